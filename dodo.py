from pe.dodo import *  # noqa: F403  (pe's graph for plain `doit`: see pe/dodo.py)

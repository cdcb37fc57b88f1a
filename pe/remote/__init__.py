"""What runs on a Dask worker for pe's dask runner (issue 16): one tree's setup and agent, in a scratch clone.

The worker shares no disk with the coordinator (pe/engine/dask_runner.py): the task carries the
tree's branch as a git bundle and returns the new commits as one, with the files pe keeps.
"""

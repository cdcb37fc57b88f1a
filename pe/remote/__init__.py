"""What runs on a Dask worker for pe's dask runner (issue 16): one tree's setup and agent, in a scratch clone.

The worker shares no disk with the coordinator (pe/engine/dask_runner.py): the task carries the
tree's branch as a git bundle (or finds it on `remote:`) and returns the new commits as one, with
the files pe keeps; result.py is the one form both sides store a result in (a commit under
refs/pe/<feature>/<tree>/<attempt>), so that it outlives a coordinator killed before it landed.
"""

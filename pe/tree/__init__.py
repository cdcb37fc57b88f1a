"""One tree's records: stamps, run record, state, progress, results, usage, guard, unsaved work."""

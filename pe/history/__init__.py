"""What pe learned from every execution in this repository: the run history, insights, lessons."""

"""Staffing: staff, shifts, assignments, the hard rules every assignment passes, and auto-scheduling."""

"""Serving: the retention offer policy, budgeted campaigns, the HTTP service and batch scoring."""

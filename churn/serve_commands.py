"""`churn serve`: start the BentoML scoring service (registered by importing this module)."""

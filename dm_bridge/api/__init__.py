"""dm_bridge's REST API (Django REST framework): session auth + CSRF, policy-checked."""

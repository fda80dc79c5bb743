"""The inventory database's migration history (Alembic), applied when the service starts."""

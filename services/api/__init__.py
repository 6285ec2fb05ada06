"""The api service: JSON over the promlab PostgreSQL database."""

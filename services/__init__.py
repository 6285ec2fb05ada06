"""The monitored services of promlab: web, api and inbox."""

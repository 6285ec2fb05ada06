"""The web service: the HTML entry point that calls the api."""

"""One router per resource of the TwelveLabs v1.3 API."""

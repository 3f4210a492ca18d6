"""fundflow: the command line and the packaging frame around ``workflow`` and ``service``."""

__version__ = "0.1.0"

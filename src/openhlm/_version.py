__version__ = "0.1.0"
"""The version of openhlm (a string such as ``"0.1.0"``), as ``openhlm --version`` prints it."""

"""`python -m siting …` runs the command line (the same as the `siting` script)."""
from .cli import main

main()

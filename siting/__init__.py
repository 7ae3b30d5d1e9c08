"""siting: 15-minute walking coverage and siting of elderly day-care stations and nurseries."""
__version__ = "0.1.0"

"""The ground floor: vocabulary every layer shares (clock, fills, errors, candle schema).

Nothing here imports any other package of the project; every other package may import it.
"""

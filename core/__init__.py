"""The ground floor: vocabulary every layer shares (clock, fills, outcomes, errors, candle schema,
formatting, logger names).

Nothing here imports any other package of the project; every other package may import it.
"""

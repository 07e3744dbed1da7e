"""The four services: needs, courses, evaluation, funding. Each owns its database and talks over events."""

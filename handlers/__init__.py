"""What to do with a message: routers of plain async handlers, one per feature.

Handlers never import a channel; they speak through the context they are given.
"""

"""Channel adapters (transports) implementing the port in ``bot.channel``.

Adapters are imported by their own module path, never from here, so that importing this
package does not pull in an optional transport such as ``wechaty``.
"""

"""Wire types, codecs and error codes of the Ably protocol. Pure: no I/O."""

"""The vocabularies of other systems over the SDK: Oscar's loop (``oscar``) and Schedy's
experiments and jobs (``schedy``). Thin adapters: every call is a call of ``Client``,
``Scan`` or ``Trial``; docs/compat.md maps one vocabulary onto the other."""

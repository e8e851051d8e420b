"""The local server's tokens: the token file of :mod:`scanfleet.tokens`, under the name
the local mode's modules import it by. The token store lives outside ``local/`` because
the cloud's token authorizer gives a token the same owner id."""

from scanfleet.tokens import TOKENS_FILE, TokenStore, TokenStoreError, owner_id

__all__ = ["TOKENS_FILE", "TokenStore", "TokenStoreError", "owner_id"]

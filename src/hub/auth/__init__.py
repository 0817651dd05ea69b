"""Who is calling: bearer-token verification against the issuer's published keys.

`tokens` verifies a JWT, `jwks` supplies the keys it is checked against, and `dev_issuer` lets
the hub be its own issuer outside production.
"""

"""pykka actor shells around the pure cores: validators, participants and the router."""

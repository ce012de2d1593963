"""Fixture families for tools/make_torch_fixtures.py. Each module defines write(out_dir) -> [paths]."""

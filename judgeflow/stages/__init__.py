"""One domain module per pipeline stage, named like its construct (infra/stages/<stage>.py), its
handler (lambdas/<stage>/handler.py) and its tests (tests/stages/test_<stage>.py)."""

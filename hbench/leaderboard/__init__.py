"""Leaderboards: submitted result files, checked and filed (`submission`), and the tables
rendered from them (`build`)."""

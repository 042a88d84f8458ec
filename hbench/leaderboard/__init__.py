"""Leaderboards: result files in a folder tree (`tree`), the rules of what is accepted and
ranked (`rules`), rows and tables (`tables`), rendered as markdown (`markdown`) and as a static
site (`site`, `svg`, ``templates/``) by `build`; submissions (`submission`) under a folder lock
(`lock`); paired comparisons of two results (`compare`)."""

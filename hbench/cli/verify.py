"""``hbench verify RESULT.json``: re-run a claimed result and compare (`hbench.leaderboard.verify`).

Exit 0 when the claim is verified, 1 when it is not (a check failed or a number lies outside
its tolerance), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable


def add_parsers(
    sub: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add ``verify``; return its handler."""
    from hbench.cli.options import examples, positive_int
    from hbench.leaderboard.verify import Z

    p = sub.add_parser(
        "verify",
        parents=[common],
        help="re-run a result's official protocol and compare; sign it if verified",
    )
    p.add_argument("file", metavar="RESULT.json", help="the claimed result file")
    p.add_argument(
        "--plugin",
        metavar="WHEEL|SDIST|FOLDER|REQUIREMENT",
        help="the model's plugin as submitted (not for built-in models): a wheel or sdist, a"
        " plugin folder, or a pip requirement pinned by --hash=sha256: or a VCS commit",
    )
    p.add_argument(
        "--out",
        default="verified",
        help="folder for the re-run and the comparison (default: %(default)s); a verification"
        " stopped part-way keeps its re-run's finished fits there, and the same command resumes",
    )
    p.add_argument("--sign", metavar="KEYFILE", help="sign a verified re-run (ed25519, PEM)")
    p.add_argument(
        "--z",
        type=float,
        default=Z,
        help="standard errors two runs may differ by (default: %(default)s)",
    )
    p.add_argument("--jobs", type=positive_int, help="fits run at once in the re-run")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    examples(
        p,
        [
            "hbench verify leaderboards/cpu/root/results/<file>.json   # a built-in model",
            "hbench verify RESULT.json --plugin dist/my_model-1.0-py3-none-any.whl",
            "hbench verify RESULT.json --sign maintainers.pem --out verified",
        ],
    )
    return {"verify": cmd_verify}


def _number(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.4f}"


def cmd_verify(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from hbench.leaderboard.text import terminal
    from hbench.leaderboard.verify import verify

    found = verify(
        args.file, plugin=args.plugin, out=args.out, sign_key=args.sign, z=args.z, jobs=args.jobs
    )
    if args.json:
        print(json.dumps(found.to_json(), indent=1, sort_keys=True))
        return 0 if found.verified else 1
    for check in found.checks:
        print(terminal(f"{'ok' if check.ok else 'FAILED'}: {check.name}: {check.detail}"))
    if found.quantities:
        rows = [
            [
                q["quantity"],
                _number(q["claimed"]),
                _number(q["claimed_se"]),
                _number(q["rerun"]),
                _number(q["rerun_se"]),
                _number(q["difference"]),
                _number(q["tolerance"]),
                "ok" if q["ok"] else "FAILED",
            ]
            for q in found.quantities
        ]
        header = ["quantity", "claimed", "se", "re-run", "se", "difference", "tolerance", ""]
        print(tabulate(rows, headers=header, disable_numparse=True))
    if found.resumed:
        print(
            f"resumed: {found.resumed} fits of the re-run were finished by an interrupted attempt"
            " of this verification and kept"
        )
    if found.rerun is not None:
        print(terminal(f"wrote {found.rerun}{' (signed)' if found.signed else ''}"))
    print(terminal(f"wrote {found.comparison}"))
    print("verified" if found.verified else "not verified")
    return 0 if found.verified else 1

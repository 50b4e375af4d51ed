"""`backend training …`: scan the conversations, export the reviewed examples and stories,
compare the current and the candidate model, promote the candidate (a person's step)."""

from __future__ import annotations

import argparse
import getpass
import json
from pathlib import Path

from backend.commands import CommandError, command_group
from backend.config import get_settings, project_path
from backend.db import get_session_factory, session_scope


@command_group
def _training(sub: argparse._SubParsersAction) -> None:
    training = sub.add_parser("training", help="review queue, export, model comparison")
    cmds = training.add_subparsers(dest="training_cmd", required=True)
    cmds.add_parser("scan", help="read new conversations into the review queue").set_defaults(
        handler=_scan
    )
    export = cmds.add_parser(
        "export", help="write the reviewed examples to data/nlu_reviewed.yml; print the report"
    )
    export.add_argument(
        "--out", type=Path, help="the file to write (default data/nlu_reviewed.yml)"
    )
    export.set_defaults(handler=_export)
    story = cmds.add_parser("story", help="write a reviewed conversation as a test story")
    story.add_argument("--item", type=int, required=True, help="a review item of the conversation")
    story.add_argument("--out", type=Path, help="default tests/stories/test_reviewed_<item>.yml")
    story.set_defaults(handler=_story)
    compare = cmds.add_parser(
        "compare", help="current vs candidate model on the evaluation sets (markdown + JSON)"
    )
    compare.add_argument("--current", type=Path, default=Path("models/current.tar.gz"))
    compare.add_argument("--candidate", type=Path, default=Path("models/candidate.tar.gz"))
    compare.add_argument(
        "--reviewed", type=Path, help="the reviewed examples (default data/nlu_reviewed.yml)"
    )
    compare.add_argument("--out-dir", type=Path, help="default TRAINING_REPORT_DIR")
    compare.set_defaults(handler=_compare)
    promote = cmds.add_parser(
        "promote", help="copy models/candidate.tar.gz over models/current.tar.gz (audited)"
    )
    promote.add_argument("--models-dir", type=Path, help="default TRAINING_MODELS_DIR (models)")
    promote.set_defaults(handler=_promote)


def _scan(_args) -> int:
    from backend.training import review

    thresholds = review.Thresholds.from_settings(get_settings())
    with session_scope(get_session_factory()) as session:
        result = review.scan(session, thresholds=thresholds)
    print(json.dumps(result))
    return 0


def _export(args) -> int:
    from backend.training import export

    out = args.out or export.REVIEWED_FILE
    with session_scope(get_session_factory()) as session:
        result = export.nlu_examples(session, data_dir=out.parent, out=out)
    written = export.write_nlu(result, out)
    report = result.report()
    print(json.dumps({k: v for k, v in report.items() if k != "examples"}, indent=2))
    if written is None:
        print("nothing to export: no confirmed or corrected message is new")
        return 0
    print(f"{report['exported']} examples written to {written}")
    return 0


def _story(args) -> int:
    from backend.training import export, review

    with session_scope(get_session_factory()) as session:
        item = review.get_item(session, item_id=args.item)
        if item is None:
            raise CommandError(f"there is no review item {args.item} (or its chat lost consent)")
        text, out = export.story_yaml(session, item=item), args.out or export.story_path(item)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"test story written to {out}")
    return 0


def _compare(args) -> int:
    from backend.training import compare, export

    reviewed = args.reviewed or export.REVIEWED_FILE
    try:
        data = compare.compare(current=args.current, candidate=args.candidate, reviewed=reviewed)
    except compare.CompareError as exc:
        raise CommandError(str(exc)) from None
    out_dir = args.out_dir or project_path(get_settings().training_report_dir)
    as_json, as_md = compare.write(data, out_dir)
    held = data["held_out"]
    print(
        f"held-out intent accuracy {held['current']['accuracy']:.4f} -> "
        f"{held['candidate']['accuracy']:.4f}; false-emergency rate "
        f"{held['current']['false_emergency_rate']} -> "
        f"{held['candidate']['false_emergency_rate']}; "
        f"{data['changed_count']} predictions changed ({data['fixed']} fixed, "
        f"{data['broken']} broken)"
    )
    print(f"report: {as_md} and {as_json}")
    return 0


def _promote(args) -> int:
    from backend.training import compare

    models_dir = args.models_dir or project_path(get_settings().training_models_dir)
    with session_scope(get_session_factory()) as session:
        try:
            done = compare.promote(session, actor=f"cli:{getpass.getuser()}", models_dir=models_dir)
        except compare.CompareError as exc:
            raise CommandError(str(exc)) from None
    print(
        f"promoted: {compare.CANDIDATE} -> {models_dir / compare.CURRENT} "
        f"({done['candidate_sha256'][:12]}); restart `rasa run` to serve it"
    )
    return 0

"""``rasd classify``, ``rasd train``, ``rasd eval`` and ``rasd policy``: the text
detection stage on the command line (no database needed except for ``scan``)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from rasd.cli.common import echo, echo_json, fail, jsonl_line, progress_enabled, warn

BATCH = 256


def _load_policy(path: str | None):
    from rasd.detect.text.policy import PolicyError, load_policy

    try:
        return load_policy(path)
    except PolicyError as e:
        fail(str(e))


def _read_labelled(files: list[str]) -> list[dict]:
    """Every row of the labelled files, or a clean exit naming the bad one."""
    from rasd.detect.text.io import InputError, read_labelled

    rows: list[dict] = []
    try:
        for f in files:
            rows += read_labelled(f)
    except InputError as e:
        fail(str(e))
    return rows


def _load_model(model: str | None, policy_path: str | None, tiers: str | None,
                external: str | None = None, external_weight: float = 1.0):
    from rasd.detect.text.external import ExternalModelError
    from rasd.detect.text.model import ModelError, TextClassifier

    policy = _load_policy(policy_path)
    tl = [t.strip() for t in tiers.split(",") if t.strip()] if tiers else None
    try:
        return TextClassifier.load(model, policy=policy, tiers=tl, external=external,
                                   external_weight=external_weight)
    except (ModelError, ExternalModelError) as e:
        fail(str(e))


def _classify_batch(clf, items, explain: bool) -> list[dict]:
    preds = clf.predict([i["text"] for i in items], ids=[i["id"] for i in items],
                        langs=[i.get("lang") for i in items],
                        roles=[i.get("role") for i in items], explain=explain)
    return [p.to_dict() for p in preds]


_WORKER: dict = {}


def imap_bounded(pool, fn, items, ahead: int):
    """``pool.imap(fn, items)``'s results, in order, with at most ``ahead`` items
    handed to the pool and not yet taken back: ``Pool.imap`` reads its whole input
    at once (its feeder thread has no back-pressure), so a big file or an endless
    pipe was held in memory.

    An error reading ``items`` (a damaged input file) comes after the results
    of every item read before it: those handed to the pool were dropped.
    """
    from collections import deque

    pending: deque = deque()
    it = iter(items)
    while True:
        try:
            item = next(it)
        except StopIteration:
            break
        except Exception:
            while pending:
                yield pending.popleft().get()
            raise
        pending.append(pool.apply_async(fn, (item,)))
        if len(pending) >= ahead:
            yield pending.popleft().get()
    while pending:
        yield pending.popleft().get()


def _worker_init(clf, args) -> None:  # runs in each forked worker; the model is inherited
    import signal

    # Ctrl-C is the parent's to handle (it ends the pool): each worker printed a traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER["clf"], _WORKER["explain"] = clf, args[-1]


def _worker_classify(items):
    return _classify_batch(_WORKER["clf"], items, _WORKER["explain"])


def _interrupted(file: str, n_done: int, last_line: int, flagged_only: bool,
                 mark: tuple[int, int, int] | None = None) -> None:
    """Say what an interrupted ``rasd classify`` wrote and where to go on.
    ``mark``: the line ends read through ``last_line`` (``LineEnds.mark``), by
    which the command printed goes on (``resume_lines``); None: ``last_line``
    LFs, as for a file without lone CRs."""
    from rasd.detect.text.io import resume_lines
    from rasd.terminal import shell_word

    try:
        sys.stdout.flush()
    except (BrokenPipeError, OSError):
        pass
    if not n_done:  # (the model loading, too)
        warn("interrupted before any post was classified: nothing is written")
    else:
        done = (f"the results of the first {n_done:,} posts (input lines 1-{last_line:,})"
                f"{', the flagged ones,' if flagged_only else ''} are written")
        # a .gz file is read decompressed (io._open): its lines are counted there,
        # and `tail` on the compressed bytes went on from nowhere in particular.
        # `tail -n` ends lines at LF only, rasd at a lone CR too: where one came
        # before, `tail -n +{last_line + 1}` went on lines past the next post
        k, through_tr = resume_lines(mark) if mark is not None else (last_line + 1, False)
        tr = "tr '\\r' '\\n'"
        if Path(file).suffix == ".gz":
            read = (f"gzip -dc {shell_word(file)} | " + (f"{tr} | " if through_tr else "")
                    + f"tail -n +{k}")
        elif through_tr:
            read = f"{tr} < {shell_word(file)} | tail -n +{k}"
        else:
            read = f"tail -n +{k} {shell_word(file)}"
        rest = ("the rest of standard input is not classified" if file == "-" else
                f"the rest is not: `{read} | rasd classify` goes on from there (plain "
                "text lines are then numbered from 1 again)")
        warn(f"interrupted: {done}; {rest}")
    raise typer.Exit(130)


def register(app: typer.Typer) -> None:
    @app.command("classify")
    def classify_cmd(
        file: str = typer.Argument("-", metavar="[FILE|-]",
                                   help="JSONL lines {\"id\", \"text\"[, \"lang\"][, \"role\"]} "
                                        "or plain text lines; '-' (default) reads stdin."),
        model: str = typer.Option(None, "--model", "-m", envvar="RASD_TEXT_MODEL",
                                  help="Model directory (default: the shipped model)."),
        policy: str = typer.Option(None, "--policy", envvar="RASD_POLICY",
                                   help="Policy JSON file (default: the shipped policy)."),
        tiers: str = typer.Option(None, "--tiers", help="Comma-separated tiers to use "
                                  "(char, use); default: all the model has."),
        external: str = typer.Option(None, "--external", metavar="DIR",
                                     help="Add a fine-tuned ONNX / Hugging Face classifier "
                                          "directory as a tier."),
        external_weight: float = typer.Option(1.0, "--external-weight",
                                              help="Ensemble weight of --external."),
        flagged_only: bool = typer.Option(False, "--flagged-only",
                                          help="Write only flagged posts."),
        explain: bool = typer.Option(True, "--explain/--no-explain",
                                     help="Include explanations (slower)."),
        jobs: int = typer.Option(1, "--jobs", "-j", min=1, max=64,
                                 help="Worker processes (each loads the model; output order "
                                      "is kept). Worth it for large files, above all with "
                                      "--tiers char."),
    ) -> None:
        """Classify posts against the policy; one JSONL line out per post in.

        Output: {"id", "lang", "label", "score", "flagged", "scores": {label: p}, "explanation"}.
        A post is flagged when its label is neither `none` nor `exempt`.

        A line that starts with `{` must be a JSON object with a string "text". A line
        that is JSON but no object — `null`, `true`, a number, an array — is no post:
        it is skipped with its line number and reason on stderr (a quoted "sentence"
        is a plain text line). Other lines are plain text posts.

        Interrupted (Ctrl-C), it says how many posts' verdicts are written, up to
        which input line, and how to go on from the next one. An input that turns
        out bad midway (a .gz cut short or a decompression bomb) ends with exit 2
        after every post read before the damage is written, and the error says how
        many.

        Examples:

          echo '{"id": 1, "text": "Join the caravan, make hijrah now"}' | rasd classify

          rasd classify posts.jsonl --flagged-only > flagged.jsonl

          rasd classify notes.txt --tiers char          # fastest tier only

          rasd classify posts.jsonl --external ./my-finetuned-onnx/

          rasd classify big.jsonl --tiers char --jobs 2 --no-explain
        """
        from collections import deque

        from rasd.detect.text.io import InputError, LineEnds, iter_posts

        try:
            clf = _load_model(model, policy, tiers, external, external_weight)
        except KeyboardInterrupt:  # seconds of loading: typer's exit 130 said nothing
            _interrupted(file, 0, 0, flagged_only)
        out = sys.stdout
        n_in = n_flag = n_done = last_line = 0
        ends = LineEnds()
        last_mark = ends.mark()
        # the input line of each post read and not yet written, and the line
        # ends read through it (where `tail` goes on from: `_interrupted`)
        line_of: deque[tuple[int, tuple[int, int, int]]] = deque()

        def write(preds):
            nonlocal n_flag, n_done, last_line, last_mark
            for p in preds:
                n_flag += p["flagged"]
                if not flagged_only or p["flagged"]:
                    out.write(jsonl_line(p) + "\n")
                # counted once written: a Ctrl-C while a full pipe blocks the write
                # may leave its line buffered (it comes out) or not, so the count
                # said may be one short, and going on from it repeats a verdict
                # rather than losing one
                n_done += 1
                last_line, last_mark = line_of.popleft()
            out.flush()

        def batches():
            nonlocal n_in
            buf = []
            try:
                for n, item, err in iter_posts(file, ends):
                    if err:
                        warn(f"{file}: line {n}: {err} (skipped)")
                        continue
                    buf.append(item)
                    line_of.append((n, ends.mark()))
                    n_in += 1
                    if len(buf) >= BATCH:
                        yield buf
                        buf = []
            except InputError:
                # the file turned out bad midway (a .gz bomb, damaged data): the
                # posts read before it are classified and written, then the
                # error (the batch read so far was dropped: half the work shown)
                if buf:
                    yield buf
                raise
            if buf:
                yield buf

        try:
            if jobs > 1:
                from multiprocessing import get_context

                args = (model, policy, tiers, external, external_weight, explain)
                with get_context("fork").Pool(jobs, initializer=_worker_init,
                                              initargs=(clf, args)) as pool:
                    for preds in imap_bounded(pool, _worker_classify, batches(), 2 * jobs):
                        write(preds)
            else:
                for b in batches():
                    write(_classify_batch(clf, b, explain))
        except InputError as e:
            # (a damaged file: every post read before the damage is written)
            done = (f"; the {n_done:,} posts read before it (input lines 1-{last_line:,}) "
                    f"are classified and {'the flagged ones' if flagged_only else 'their results'}"
                    " written") if n_done else ""
            fail(f"{e}{done}")
        except BrokenPipeError:
            return
        except KeyboardInterrupt:  # Ctrl-C ended it without a word, status 130
            _interrupted(file, n_done, last_line, flagged_only, last_mark)
        if progress_enabled():
            echo(f"classified {n_in} posts, flagged {n_flag}", err=True)

    @app.command("train")
    def train_cmd(
        files: list[str] = typer.Argument(..., metavar="FILE...",
                                          help="Labelled CSV/TSV/JSONL: text, label[, lang]"
                                               "[, split][, journalism][, weight]."),
        out: Path = typer.Option(..., "--out", "-o", help="Model directory to write."),
        policy: str = typer.Option(None, "--policy", envvar="RASD_POLICY",
                                   help="Policy whose labels the data uses."),
        tiers: str = typer.Option("char,use", "--tiers", help="Tiers to train (char, use)."),
        with_examples: bool = typer.Option(True, "--with-examples/--no-examples",
                                           help="Add the policy's own examples as training rows."),
        cache: Path = typer.Option(None, "--cache", help="USE embedding cache file (.npz)."),
    ) -> None:
        """Train a text model (char n-gram and cross-lingual USE tiers, calibrated
        ensemble, journalism-safe threshold) from labelled files.

        Rows without a split are divided train/calib by a hash of the text (80/20);
        the threshold keeps the flag rate on calib rows marked journalism (or, if none,
        on non-flagged calib rows) under half the policy's target in every language.
        The default model is built by scripts/train_text_model.py. The same files
        give the same weights and version hash (date aside) on the same CPU type and
        library versions, with or without --cache.

        Examples:

          rasd train labelled.csv --out models/my-model

          rasd train a.jsonl b.jsonl --out m2 --policy my-policy.json --tiers char

          rasd classify posts.jsonl --model models/my-model
        """
        from rasd.detect.text.train import TrainError, fit

        pol = _load_policy(policy)
        rows = _read_labelled(files)
        if with_examples:
            rows += [{"text": t, "label": lab, "lang": lang, "weight": 3.0}
                     for t, lab, lang in pol.examples()]
        rows = [r for r in rows if r.get("split") != "test"]
        try:
            meta = fit(rows, pol, out, tiers=[t.strip() for t in tiers.split(",") if t.strip()],
                       cache=cache, log=lambda m: typer.echo(m, err=True))
        except TrainError as e:
            fail(str(e))
        echo_json({"model": str(out), "version": meta["version"], "tiers": meta["tiers"],
                   "weights": meta["weights"], "threshold": meta["threshold"],
                   "rows": meta["figures"]["rows"]})

    @app.command("eval")
    def eval_cmd(
        files: list[str] = typer.Argument(None, metavar="[FILE...]",
                                          help="Labelled CSV/TSV/JSONL: text, label[, lang]"
                                               "[, journalism][, role]."),
        functional: bool = typer.Option(False, "--functional",
                                         help="Run the project's functional test suite."),
        suite: str = typer.Option(None, "--suite", help="Another functional suite JSON file."),
        model: str = typer.Option(None, "--model", "-m", envvar="RASD_TEXT_MODEL",
                                  help="Model directory (default: the shipped model)."),
        policy: str = typer.Option(None, "--policy", envvar="RASD_POLICY", help="Policy JSON file."),
        tiers: str = typer.Option(None, "--tiers", help="Evaluate only these tiers (char, use)."),
        json_: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
        failures: bool = typer.Option(False, "--failures", help="List failing functional cases."),
    ) -> None:
        """Evaluate a model: per-language and per-label precision, recall, F1, PR-AUC,
        journalism false-positive rate and confusion matrix; --functional adds the
        functional suite (pass rate per functionality and language).

        Rows with `journalism` true (news, research) count towards the journalism FPR.

        Examples:

          rasd eval --functional

          rasd eval heldout.jsonl --json > report.json

          rasd eval heldout.jsonl --tiers char --functional --failures
        """
        from rasd.detect.text.evaluate import (
            evaluate,
            functional_suite,
            render_functional,
            render_report,
            run_functional,
        )

        if not files and not functional:
            fail("give labelled FILE(s) and/or --functional")
        clf = _load_model(model, policy, tiers)
        result = {}
        if files:
            rows = _read_labelled(files)
            from rasd.detect.text.train import where

            for i, r in enumerate(rows):
                if r["label"] not in clf.labels:
                    fail(f"{where(r, i)}: label {r['label']!r} is not in the policy "
                         f"({', '.join(clf.labels)})")
            result["report"] = evaluate(clf, rows)
        if functional:
            try:
                cases = functional_suite(suite)
            except (OSError, ValueError) as e:
                fail(str(e))
            result["functional"] = run_functional(clf, cases)
            if not failures:
                result["functional"].pop("failures")
        if json_:
            echo_json(result)
            return
        if "report" in result:
            typer.echo(render_report(result["report"]))
        if "functional" in result:
            if "report" in result:
                typer.echo("")
            typer.echo(render_functional(result["functional"]))
            for f in result["functional"].get("failures", []):
                echo(f"  FAIL {f['functionality']}/{f['lang']}: expected {f['expected']}, "
                     f"got {f['got']} ({f['score']}): {f['text'][:100]}")

    pol_app = typer.Typer(help="Show or check content policies (labels, definitions, "
                               "examples, thresholds).", no_args_is_help=True)
    app.add_typer(pol_app, name="policy")

    @pol_app.command("show")
    def policy_show(
        policy: str = typer.Option(None, "--policy", envvar="RASD_POLICY", help="Policy JSON file."),
        json_: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Show the active policy's labels and definitions; with --json, the whole
        policy as a policy file (examples in full), to save, edit and use.

        Examples:

          rasd policy show

          rasd policy show --json > my-policy.json && rasd policy check my-policy.json

          rasd classify posts.jsonl --policy my-policy.json
        """
        pol = _load_policy(policy)
        if json_:  # a policy file: `rasd policy check` and --policy read it back
            echo_json(pol.to_document())
            return
        echo(f"{pol.name} {pol.version}  ({pol.source})")
        echo(f"target journalism FPR {pol.target_journalism_fpr:.1%}; "
             f"lexicons {', '.join(pol.lexicons) or '-'}")
        for lab in pol.labels:
            n = sum(len(v) for v in lab.examples.values())
            echo("")
            echo(f"{lab.id} ({'flagged' if lab.flagged else 'not flagged'}, "
                 f"{lab.legal_basis or 'no legal basis'}; {n} examples in "
                 f"{len(lab.examples)} languages)")
            echo(f"  {lab.definition}")

    @pol_app.command("check")
    def policy_check(path: str = typer.Argument(..., help="Policy JSON file to validate.")) -> None:
        """Validate a policy file and the lexicon files it names (read as classify
        reads them); errors name the field or the file.

        Examples:

          rasd policy check my-policy.json
        """
        from rasd.detect.text.lexicon import Lexicon, LexiconError, resolve_lexicon_paths

        pol = _load_policy(path)
        try:
            Lexicon.from_files(resolve_lexicon_paths(pol.lexicons, Path(path).parent))
        except LexiconError as e:
            fail(f"{path}: lexicons: {e}")
        echo(f"{path}: ok ({len(pol.labels)} labels, {len(pol.examples())} examples)")

    @pol_app.command("match")
    def policy_match(
        text: str = typer.Argument(..., help="Text to match against the lexicons."),
        policy: str = typer.Option(None, "--policy", envvar="RASD_POLICY",
                                   help="Policy JSON file whose lexicons to use (default: "
                                        "the shipped policy)."),
        json_: bool = typer.Option(False, "--json", help="Print the matches as JSON."),
    ) -> None:
        """Show indicator-lexicon matches (designated groups, media outlets, slogans)
        in a text, each with its source: the lexicons of the policy classify and scan
        use (--policy or RASD_POLICY, else the shipped one), matched on the text as
        the model reads it — obfuscation undone (leetspeak, zero-width and bidi
        characters, homoglyphs, spaced letters, accents, Arabic diacritics), URLs and
        @mentions masked — so the matches are exactly those classify uses and
        explains. Matches are evidence, never a verdict.

        Examples:

          rasd policy match "Amaq reports soldiers of the khilafah"

          rasd policy match "text" --policy my-policy.json

          rasd policy match "Amaq reports" --json
        """
        from rasd.detect.text.lexicon import DEFAULT_LEXICONS, LexiconError, load_lexicon

        pol = _load_policy(policy)
        # as the text model reads them: named relative to the policy's folder first
        src = Path(pol.source)
        try:
            lex = load_lexicon(tuple(pol.lexicons or DEFAULT_LEXICONS),
                               str(src.parent) if src.is_file() else None)
        except LexiconError as e:
            fail(f"{pol.source}: lexicons: {e}")
        from rasd.detect.text.model import prepare

        # the model's own preparation (model_text + fold), not the raw text: what
        # classify matched and what this printed must not differ
        found = [m.to_dict() for m in prepare([text], lex).matches[0]]
        if json_:
            echo_json(found)
            return
        if not found:
            echo("no lexicon matches")
        for m in found:  # one line each: what matched, as which alias, whose, on what source
            alias = "" if m["alias"] == m["matched"] else f" (alias {m['alias']!r})"
            whose = m["entity"] or "-"
            if m["ideology"]:
                whose += f", {m['ideology']}"
            echo(f"{m['kind']}: {m['matched']!r}{alias} — {whose} — source: {m['source']}")

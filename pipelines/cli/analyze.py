"""`sceneline analyze | summarize | gist | ask | reel`: generation about an indexed video."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from sceneline.pipelines.analysis import DEFAULT_MAX_TOKENS
from sceneline.pipelines.cli.common import (
    JsonOut,
    UserError,
    configure_logging,
    err,
    fail,
    out,
    run_guarded,
    with_options,
)
from sceneline.pipelines.cli.option_sets import ANALYZE_OPTIONS
from sceneline.pipelines.cli.query import open_store
from sceneline.schemas.settings import StoreSettings

Temperature = typer.Option(0.0, "--temperature", min=0.0, max=2.0, help="0: the same answer, served from the cache.")
MaxTokens = typer.Option(DEFAULT_MAX_TOKENS, "--max-tokens", min=1)
StartTime = typer.Option(None, "--start-time", help="Analyze from this second.")
EndTime = typer.Option(None, "--end-time", help="Analyze up to this second.")
NoCache = typer.Option(False, "--no-cache", help="Neither read nor write the answer cache.")


def _analyzer_factory(settings: dict[str, Any], *, no_cache: bool) -> Callable[[], Any]:
    """What builds the analyzer of a command's settings (ANALYZE_OPTIONS), when first needed."""
    if settings["offline"]:
        from sceneline.transforms.models.model_spec import set_offline

        set_offline()

    def build():
        from sceneline.pipelines.analysis import Analyzer, AnswerCache, cache_path_for
        from sceneline.transforms.models.generation import load_generator

        store = open_store(StoreSettings.pick(settings))
        config = server_analysis_settings(settings)
        generator = load_generator(config["analyzer"])
        cache = None if no_cache else AnswerCache(cache_path_for(store.config))
        return Analyzer(store, generator, config["analysis"], cache)
    return build


def server_analysis_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The analyzer options (ANALYZER_OPTIONS, by name) as the analyzer's config and the analysis
    settings (ServerSettings' fields of the same names)."""
    from sceneline.pipelines.analysis import AnalysisSettings
    from sceneline.transforms.models.caption_spec import EndpointSettings
    from sceneline.transforms.models.generation import GeneratorConfig

    endpoint = EndpointSettings(base_url=settings["analyzer_url"] or "", api_key=settings["analyzer_api_key"],
                                concurrency=settings["analyzer_concurrency"], timeout_s=settings["analyzer_timeout"])
    return {"analyzer": GeneratorConfig(settings["analyzer"], endpoint),
            "analysis": AnalysisSettings(settings["context_tokens"], settings["keyframes"],
                                         settings["analyzer_concurrency"])}


def _user_errors() -> tuple[type[BaseException], ...]:
    from sceneline.pipelines.analysis import AnalysisRequestError, InvalidAnswerError, VideoNotFoundError
    from sceneline.pipelines.reel import ReelError
    from sceneline.transforms.models.chat_endpoint import EndpointRejectedError, EndpointUnavailableError

    return (AnalysisRequestError, InvalidAnswerError, VideoNotFoundError, ReelError, EndpointRejectedError,
            EndpointUnavailableError)


def register(app: typer.Typer) -> None:
    def guarded(fn):
        try:
            return run_guarded(fn)
        except _user_errors() as exc:
            fail(exc)

    @app.command()
    @with_options(*ANALYZE_OPTIONS)
    def analyze(
        video: str = typer.Argument(..., help="An indexed video: its asset id, or the path it was indexed from."),
        prompt: str = typer.Option(..., "--prompt", help="What to ask or have written about the video."),
        schema: Optional[Path] = typer.Option(None, "--schema", help="A JSON schema file the answer must fit."),
        stream: bool = typer.Option(False, "--stream", help="Print the answer as it is generated."),
        temperature: float = Temperature, max_tokens: int = MaxTokens,
        start_time: Optional[float] = StartTime, end_time: Optional[float] = EndTime,
        no_cache: bool = NoCache,
        json_out: bool = JsonOut, **settings: Any,
    ) -> None:
        """Answer a prompt about one indexed video, grounded in its scenes, text and speech."""
        configure_logging(False)
        from sceneline.pipelines.analysis import AnalysisRequest

        build = _analyzer_factory(settings, no_cache=no_cache)

        def run():
            json_schema = None
            if schema is not None:
                try:
                    json_schema = json.loads(schema.read_text())
                except (OSError, ValueError) as exc:
                    raise UserError(f"--schema {schema}: {exc}") from exc
            request = AnalysisRequest(prompt, temperature, max_tokens, json_schema, start_time, end_time)
            a = build()
            if stream and json_schema is None and not json_out:
                for piece in a.analyze_stream(video, request):
                    out.print(piece, end="", highlight=False, markup=False, soft_wrap=True)
                out.print()
                return None
            return a.analyze(video, request)

        result = guarded(run)
        if result is None:
            return
        if json_out:
            out.print_json(json.dumps({"data": result.text, "value": result.value, "windows": result.windows,
                                           "cached": result.cached, "finish_reason": result.finish_reason,
                                           "usage": {"input_tokens": result.input_tokens,
                                                     "output_tokens": result.output_tokens}}))
        elif result.value is not None:
            out.print_json(json.dumps(result.value))
        else:
            out.print(result.text, highlight=False, markup=False)

    @app.command()
    @with_options(*ANALYZE_OPTIONS)
    def summarize(
        video: str = typer.Argument(..., help="An indexed video: its asset id, or the path it was indexed from."),
        kind: str = typer.Option("summary", "--type", help="summary, chapter or highlight."),
        prompt: Optional[str] = typer.Option(None, "--prompt", help="Extra instructions."),
        temperature: float = Temperature, max_tokens: int = MaxTokens,
        start_time: Optional[float] = StartTime, end_time: Optional[float] = EndTime,
        no_cache: bool = NoCache,
        json_out: bool = JsonOut, **settings: Any,
    ) -> None:
        """A summary, chapters or highlights of one indexed video (times on scene boundaries)."""
        configure_logging(False)
        build = _analyzer_factory(settings, no_cache=no_cache)
        result = guarded(lambda: build().summarize(video, kind, prompt=prompt, temperature=temperature,
                                                   max_tokens=max_tokens, start_time=start_time, end_time=end_time))
        if json_out:
            out.print_json(json.dumps(result))
        elif kind == "summary":
            out.print(result["summary"], highlight=False, markup=False)
        else:
            from rich.table import Table

            items = result["chapters" if kind == "chapter" else "highlights"]
            table = Table("start (s)", "end (s)", "title", "summary")
            for item in items:
                table.add_row(f"{item['start_sec']:.2f}", f"{item['end_sec']:.2f}",
                              item.get("chapter_title") or item.get("highlight", ""),
                              item.get("chapter_summary") or item.get("highlight_summary", ""))
            out.print(table)

    @app.command()
    @with_options(*ANALYZE_OPTIONS)
    def gist(
        video: str = typer.Argument(..., help="An indexed video: its asset id, or the path it was indexed from."),
        types: str = typer.Option("title,topic,hashtag", "--types", help="Any of title, topic, hashtag."),
        no_cache: bool = NoCache,
        **settings: Any,
    ) -> None:
        """A title, topics and hashtags for one indexed video (JSON)."""
        configure_logging(False)
        build = _analyzer_factory(settings, no_cache=no_cache)
        wanted = [t.strip() for t in types.split(",") if t.strip()]
        result = guarded(lambda: build().gist(video, wanted))
        out.print_json(json.dumps(result))

    @app.command()
    @with_options(*ANALYZE_OPTIONS)
    def ask(
        video: str = typer.Argument(..., help="An indexed video: its asset id, or the path it was indexed from."),
        temperature: float = Temperature, max_tokens: int = MaxTokens,
        **settings: Any,
    ) -> None:
        """Ask questions about one indexed video, one after another (an empty line or Ctrl-D ends)."""
        configure_logging(False)
        from sceneline.pipelines.analysis import AnalysisRequest

        build = _analyzer_factory(settings, no_cache=True)

        def chat() -> None:
            import sys

            a = build()
            from sceneline.pipelines.analysis import load_video

            load_video(a.store, video)  # an unknown video fails before the first question
            history: list[tuple[str, str]] = []
            while True:
                err.print("? ", end="")
                line = sys.stdin.readline()
                question = line.strip()
                if not question:
                    return
                pieces = []
                for piece in a.analyze_stream(video, AnalysisRequest(question, temperature, max_tokens,
                                                                     history=tuple(history))):
                    pieces.append(piece)
                    out.print(piece, end="", highlight=False, markup=False, soft_wrap=True)
                out.print()
                history.append((question, "".join(pieces)))

        guarded(chat)

    @app.command()
    @with_options(*ANALYZE_OPTIONS)
    def reel(
        video: str = typer.Argument(..., help="An indexed video: its asset id, or the path it was indexed from."),
        output: Path = typer.Option(..., "--output", "-o", help="The MP4 to write."),
        scenes: Optional[str] = typer.Option(None, "--scenes", help="Scene indexes, e.g. 0,3,5."),
        spans: Optional[str] = typer.Option(None, "--spans", help="Times in seconds, e.g. 1.5-4,10-12.5."),
        highlights: bool = typer.Option(False, "--highlights", help="The analyzer's highlights."),
        json_out: bool = JsonOut, **settings: Any,
    ) -> None:
        """Render chosen scenes, times or highlights of one video into one MP4."""
        configure_logging(False)
        if sum(x is not None and x is not False for x in (scenes, spans, highlights or None)) != 1:
            fail(UserError("give exactly one of --scenes, --spans and --highlights"))

        def run():
            from sceneline.pipelines.analysis import load_video
            from sceneline.pipelines.reel import reel_spans, render_reel

            try:
                chosen = [int(s) for s in scenes.split(",")] if scenes else None
                times = [tuple(float(x) for x in s.split("-", 1)) for s in spans.split(",")] if spans else None
            except ValueError as exc:
                raise UserError(f"cannot read the scenes or spans: {exc}") from exc
            a = None
            if highlights:
                a = _analyzer_factory(settings, no_cache=False)()
            store = a.store if a else open_store(StoreSettings.pick(settings))
            record = load_video(store, video)
            return render_reel(record.uri, reel_spans(record, scenes=chosen, spans=times, analyzer=a), output)

        result = guarded(run)
        if json_out:
            out.print_json(json.dumps({"path": str(result.path), "mode": result.mode,
                                           "duration_s": result.duration_s, "spans": result.spans}))
        else:
            err.print(f"wrote {result.path}: {len(result.spans)} spans, {result.duration_s:.2f} s "
                          f"({'streams copied' if result.mode == 'copy' else 're-encoded'})", highlight=False)

"""How a source's picture becomes the house picture: turned upright, deinterlaced, HDR mapped to SDR,
scaled to square pixels within 1080p, padded to an even size, at a constant standard frame rate; for an
audio file, its cover art or a card with its title. The conform, its quality samples and the thumbnail all
draw the picture through the same chain, so what is measured is what is shipped."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from pathlib import Path

from stream_task.command import source_whitelists
from stream_task.launch import DIRECT, Launch
from stream_task.media_facts import MediaFacts, VideoFacts

# H.264 level 4.2 holds at most 8,704 macroblocks a frame: 1920x1080 fits (8,160), 2560x1440 does not.
MAX_LONG_SIDE = 1920
MAX_SHORT_SIDE = 1080
MAX_FPS = Fraction(60)
STANDARD_RATES = tuple(
    Fraction(rate) for rate in ("24000/1001", "24", "25", "30000/1001", "30", "48", "50", "60000/1001", "60")
)
_SNAP_TO_STANDARD = 0.02  # a variable rate averaging 29.87 fps plays at 29.97
CARD_WIDTH, CARD_HEIGHT = 1280, 720
STILL_FPS = Fraction(30)
CARD_COLOR = "0x1e1e28"
# Debian's fonts-dejavu-core; ffmpeg's libfontconfig already depends on it, the image names it anyway.
CARD_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
# The sound is cut to the picture (a few frames' difference is container rounding) unless it runs on
# for longer than this: then the picture's last frame is held to the end of the sound.
SOUND_OUTLASTS_S = 1.0
THUMBNAIL_WIDTH = 320
THUMBNAIL_AT = 0.10  # of the duration: past a fade-in or a title card, not yet into the story

# ffprobe's colour names as zscale spells them.
_ZSCALE_TRANSFER = {"smpte2084": "smpte2084", "arib-std-b67": "arib-std-b67"}
_ZSCALE_MATRIX = {"bt2020nc": "2020_ncl", "bt2020c": "2020_cl", "bt709": "709"}
_ZSCALE_PRIMARIES = {"bt2020": "2020", "bt709": "709"}


class PictureSource(StrEnum):
    VIDEO = "video"  # the file's own moving picture
    COVER = "cover"  # an audio file's attached picture, held for the whole file
    CARD = "card"  # an audio file without one: its title on a plain background


@dataclass(frozen=True)
class PicturePlan:
    source: PictureSource
    width: int
    height: int
    fps: Fraction
    duration_s: float  # whole frames: video and audio are cut or padded to exactly this
    title: str
    # How long the source's own picture lasts when it stops before a talk that goes on (its last picture is
    # then held to duration_s); None: the whole duration.
    picture_s: float | None = None

    @property
    def moving_s(self) -> float:
        """The stretch where the source's picture is: where quality samples and the thumbnail are taken
        (past its end there is no frame to seek to)."""
        return self.duration_s if self.picture_s is None else min(self.picture_s, self.duration_s)

    @property
    def keyint(self) -> int:
        """Frames per GOP: 2 s, or the whole frames within 2 s at 29.97 or 59.94."""
        return max(int(self.fps * 2), 1)

    @property
    def frames(self) -> int:
        return round(self.duration_s * self.fps)


def house_fps(fps: float | None) -> Fraction:
    """A constant rate for the output: the source's, as the standard rate it is meant to be, at most 60."""
    if fps is None or fps <= 0:
        return STILL_FPS
    nearest = min(STANDARD_RATES, key=lambda rate: abs(float(rate) - fps))
    if abs(float(nearest) - fps) <= float(nearest) * _SNAP_TO_STANDARD:
        return nearest
    return min(Fraction(max(round(fps), 1)), MAX_FPS)


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def house_size(width: int, height: int, sample_aspect_ratio: Fraction = Fraction(1)) -> tuple[int, int]:
    """The output's size for a picture shown at width x height: square pixels, within 1920x1080 either way
    round, each side even (an odd side gains a pixel of padding rather than losing one to a crop)."""
    shown_width = width * float(sample_aspect_ratio)
    long_side, short_side = max(shown_width, height), min(shown_width, height)
    factor = min(1.0, MAX_LONG_SIDE / long_side, MAX_SHORT_SIDE / short_side)
    if factor == 1.0 and sample_aspect_ratio == 1:
        return width + width % 2, height + height % 2
    return _even(shown_width * factor), _even(height * factor)


def plan_picture(facts: MediaFacts, title: str) -> PicturePlan:
    video = facts.video
    picture_s: float | None = None
    if video is None:
        source = PictureSource.COVER if facts.has_cover_art else PictureSource.CARD
        fps = STILL_FPS
        width, height = CARD_WIDTH, CARD_HEIGHT  # a cover's own size is only known once it is decoded
        length = facts.audio.duration_s if facts.audio and facts.audio.duration_s else facts.duration_s
    else:
        source = PictureSource.VIDEO
        # A variable rate averages below what the camera aimed at when the light dropped: play at the aim.
        aimed = video.peak_fps if not video.constant_fps and video.peak_fps else video.fps
        fps = house_fps(aimed)
        width, height = house_size(video.display_width, video.display_height, video.sample_aspect_ratio)
        length = video.duration_s or facts.timing.video_s or facts.duration_s
        sound = facts.audio.duration_s if facts.audio else None
        if sound and sound - length > SOUND_OUTLASTS_S:
            # a talk over a picture that stops: the last picture is held, not the talk cut
            picture_s, length = length, sound
    frames = max(round(length * fps), 1)
    return PicturePlan(source, width, height, fps, float(frames / fps), facts.title or title, picture_s)


def _tonemap(video: VideoFacts) -> list[str]:
    """PQ or HLG to SDR bt709 through linear light (zscale, i.e. libzimg, which Debian's ffmpeg has)."""
    if not video.hdr:
        return []
    transfer = _ZSCALE_TRANSFER[str(video.color_transfer)]
    matrix = _ZSCALE_MATRIX.get(str(video.color_space), "2020_ncl")
    primaries = _ZSCALE_PRIMARIES.get(str(video.color_primaries), "2020")
    color_range = "full" if video.color_range == "pc" else "limited"
    return [
        f"zscale=tin={transfer}:min={matrix}:pin={primaries}:rin={color_range}:t=linear:npl=100",
        "format=gbrpf32le",
        "zscale=p=709",
        "tonemap=tonemap=hable:desat=0",
        "zscale=t=709:m=709:r=tv",
    ]


def _quoted(path: Path) -> str:
    text = str(path)
    if "'" in text:
        raise ValueError(f"a filter cannot name {text!r}")
    return f"'{text}'"


def card_text_file(plan: PicturePlan, workdir: Path) -> Path:
    lines = textwrap.wrap(plan.title, width=34, max_lines=3, placeholder="…") or ["Untitled"]
    path = workdir / "card-title.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def picture_filters(facts: MediaFacts, plan: PicturePlan, workdir: Path, *, constant_rate: bool) -> str:
    """The -vf chain from the picture input (the source, its cover art, or a colour card) to the house
    picture. ffmpeg has already turned the source upright (autorotate) before the chain."""
    filters: list[str] = []
    if plan.source is PictureSource.CARD:
        text = card_text_file(plan, workdir)
        filters.append(
            f"drawtext=fontfile={_quoted(CARD_FONT)}:textfile={_quoted(text)}:expansion=none"
            ":fontcolor=white:fontsize=52:line_spacing=14:x=(w-text_w)/2:y=(h-text_h)/2"
        )
    elif plan.source is PictureSource.COVER:
        filters.append(f"scale={plan.width}:{plan.height}:force_original_aspect_ratio=decrease:flags=lanczos")
        filters.append(f"pad={plan.width}:{plan.height}:(ow-iw)/2:(oh-ih)/2:color={CARD_COLOR}")
    else:
        video = facts.video
        assert video is not None
        if video.interlaced:
            filters.append("bwdif=mode=send_frame")
        filters += _tonemap(video)
        shown_width, shown_height = video.display_width, video.display_height
        padded = (shown_width + shown_width % 2, shown_height + shown_height % 2)
        if video.sample_aspect_ratio != 1 or (plan.width, plan.height) != padded:
            filters.append(f"scale={plan.width}:{plan.height}:flags=lanczos")
        elif padded != (shown_width, shown_height):
            filters.append(f"pad={plan.width}:{plan.height}:0:0")
    filters += ["format=yuv420p", "setsar=1"]
    if constant_rate and plan.source is PictureSource.VIDEO:
        # start_time=0 holds the first frame over a late-starting picture; tpad holds the last one over a
        # picture that ends before the sound: -t then cuts both at the planned length.
        filters += [f"fps={plan.fps}:start_time=0", "tpad=stop=-1:stop_mode=clone"]
    return ",".join(filters)


def picture_input(
    ffmpeg: str,
    source: Path,
    plan: PicturePlan,
    workdir: Path,
    *,
    seek_s: float = 0.0,
    launch: Launch = DIRECT,
) -> list[str]:
    """ffmpeg's input arguments for the picture (input 0); the map to use is `0:V:0`, or `0:v:0` for art."""
    if plan.source is PictureSource.CARD:
        return [
            "-format_whitelist", "lavfi", "-f", "lavfi", "-i",
            f"color=c={CARD_COLOR}:s={plan.width}x{plan.height}:r={plan.fps}",
        ]  # fmt: skip
    if plan.source is PictureSource.COVER:
        still = workdir / "cover.png"
        if not still.exists():
            launch.run(
                [ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-y", *source_whitelists(str(source)),
                 "-i", str(source),
                 "-map", "0:v:0", "-frames:v", "1", "-c:v", "png", str(still)],
                check=True,
                capture_output=True,
            )  # fmt: skip
        # The cover as the task wrote it: one picture (image2 loops it; no file name pattern).
        still_input = ["-protocol_whitelist", "file", "-format_whitelist", "image2", "-f", "image2"]
        still_input += ["-pattern_type", "none"]
        return ["-loop", "1", "-framerate", str(plan.fps), *still_input, "-i", str(still)]
    seek = ["-ss", f"{seek_s:.3f}"] if seek_s > 0 else []
    return [*seek, *source_whitelists(str(source)), "-i", str(source)]


def picture_map(plan: PicturePlan) -> str:
    return "0:V:0" if plan.source is PictureSource.VIDEO else "0:v:0"


def write_thumbnail(
    ffmpeg: str,
    source: Path | str,
    facts: MediaFacts,
    out_path: Path | str,
    workdir: Path,
    title: str,
    launch: Launch = DIRECT,
) -> Path:
    """A WebP THUMBNAIL_WIDTH pixels wide: a frame a tenth of the way in, the cover art, or the title card."""
    source, out_path = Path(source), Path(out_path)
    plan = plan_picture(facts, title)
    seek = plan.moving_s * THUMBNAIL_AT if plan.source is PictureSource.VIDEO else 0.0
    chain = picture_filters(facts, plan, workdir, constant_rate=False)
    launch.run(
        [
            ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-y",
            *picture_input(ffmpeg, source, plan, workdir, seek_s=seek, launch=launch),
            "-map", picture_map(plan), "-frames:v", "1",
            "-vf", f"{chain},scale={THUMBNAIL_WIDTH}:-2:flags=lanczos",
            "-c:v", "libwebp", "-quality", "80", "-f", "webp", str(out_path),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )  # fmt: skip
    return out_path

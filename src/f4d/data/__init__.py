"""f4d.data."""

from f4d.data.decode import TruncatedVideoError as TruncatedVideoError
from f4d.data.decode import VideoDecodeError as VideoDecodeError
from f4d.data.decode import VideoInfo as VideoInfo
from f4d.data.decode import probe as probe
from f4d.data.decode import read_frames as read_frames
from f4d.data.sampling import sample_segments as sample_segments
from f4d.data.sampling import section_bounds as section_bounds

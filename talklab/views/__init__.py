"""Drawings and widgets. Views subscribe to what the lab publishes; they never drive the protocol.

Drawings are SVG snapshots (:class:`Drawing`): sharp at any zoom, and still there after the lab
has closed. Widgets are live: they redraw from the lab's events while the room runs.

* :mod:`.room` — the full mesh: a drawing of one moment, several side by side, or live;
* :mod:`.streams` — any topology's streams with their direction (Janus in the middle);
* :mod:`.sequence` — the room's story as a sequence diagram (signaling, STUN, first audio);
* :mod:`.checklist` — Dave's nine steps, ticking as the live room goes through them;
* :mod:`.stats` — a webrtc-internals of talklab's own: each call's counters, live;
* :mod:`.tables` — candidates, pairs, timelines, the trace, any records, as tables that fit;
* :mod:`.charts` — priorities and the NAT x NAT matrix;
* :mod:`.audio` — waveform, spectrum, spectrogram, and a player for what a person hears;
* :mod:`.panel` — the room control panel: Join voice / Leave buttons beside the live mesh;
* :mod:`.loudness` — one voice arriving: how loud a speaker is in each listener's ears, live;
* :mod:`.microphone` — the learner's own microphone and ears (a widget, exported as
  ``talklab.BrowserMicrophone``).
"""

from talklab.views.audio import draw_spectrogram, draw_spectrum, draw_waveform, listen, player
from talklab.views.charts import draw_matrix, draw_priorities
from talklab.views.checklist import DaveChecklist
from talklab.views.drawing import Drawing, figure
from talklab.views.loudness import LoudnessView, loudness
from talklab.views.panel import RoomPanel
from talklab.views.room import MeshView, draw_mesh, mesh_drawing, rooms_drawing
from talklab.views.sequence import SequenceDiagram, draw_sequence, sequence_diagram, story
from talklab.views.stats import LinkStatsView
from talklab.views.streams import draw_streams, streams_drawing
from talklab.views.tables import (
    Table,
    candidates_table,
    pairs_table,
    rows_table,
    source,
    timeline_table,
    trace_table,
)

__all__ = [
    "DaveChecklist", "Drawing", "LinkStatsView", "LoudnessView", "MeshView", "RoomPanel",
    "SequenceDiagram", "Table", "candidates_table", "draw_matrix", "draw_mesh", "draw_priorities",
    "draw_sequence", "draw_spectrogram", "draw_spectrum", "draw_streams", "draw_waveform",
    "figure", "listen", "loudness", "mesh_drawing", "pairs_table", "player", "rooms_drawing",
    "rows_table", "sequence_diagram", "source", "story", "streams_drawing", "timeline_table",
    "trace_table",
]

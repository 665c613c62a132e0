"""Drawings and widgets. Views subscribe to what the lab publishes; they never drive the protocol.

* :mod:`.mesh` — the full mesh as a networkx drawing, and a live widget that redraws it;
* :mod:`.sequence` — the signaling trace as a sequence diagram (Mermaid text or matplotlib);
* :mod:`.tables` — candidates, pairs, timelines, the trace, as HTML tables;
* :mod:`.charts` — priorities and the NAT x NAT matrix;
* :mod:`.audio` — waveform, spectrum, spectrogram, and a player for what a person hears;
* :mod:`.panel` — the room control panel: Join voice / Leave buttons beside the live mesh.
"""

from .audio import draw_spectrogram, draw_spectrum, draw_waveform, player
from .charts import draw_matrix, draw_priorities
from .mesh import MeshView, draw_mesh
from .panel import RoomPanel
from .sequence import SequenceDiagram, draw_sequence, sequence_diagram
from .tables import Table, candidates_table, pairs_table, timeline_table, trace_table

__all__ = ["MeshView", "RoomPanel", "SequenceDiagram", "Table", "candidates_table",
           "draw_matrix", "draw_mesh", "draw_priorities", "draw_sequence", "draw_spectrogram",
           "draw_spectrum", "draw_waveform", "pairs_table", "player", "sequence_diagram",
           "timeline_table", "trace_table"]

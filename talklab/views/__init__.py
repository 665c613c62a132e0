"""Drawings and widgets. Views subscribe to what the lab publishes; they never drive the protocol.

* :mod:`.mesh` — the full mesh as a networkx drawing, and a live widget that redraws it;
* :mod:`.sequence` — the signaling trace as a sequence diagram (Mermaid text or matplotlib).
"""

from .mesh import MeshView, draw_mesh
from .sequence import SequenceDiagram, draw_sequence, sequence_diagram

__all__ = ["MeshView", "SequenceDiagram", "draw_mesh", "draw_sequence", "sequence_diagram"]

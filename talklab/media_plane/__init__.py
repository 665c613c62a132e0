"""The media plane: what flows once a call is connected (the seed's Step 9, "audio flows
directly between browsers"), taken apart.

On one UDP five-tuple a WebRTC call multiplexes four protocols (RFC 7983, :mod:`.demux`): ICE's
STUN checks, the DTLS handshake that authenticates the two ends against their SDP
``a=fingerprint`` and exports the SRTP keys (RFC 5764), SRTP carrying RTP (the Opus frames,
RFC 3550 and RFC 7587), and SRTCP carrying RTCP (sender and receiver reports, from which the
round-trip time is computed, :mod:`.rtt`). Behind a TURN relay the same datagrams travel inside
ChannelData messages (RFC 8656, section 12).

* :mod:`.demux`: which protocol a datagram is, from its first byte;
* :mod:`.rtt`: NTP timestamps and the round-trip time of RFC 3550, section 6.4.1;
* :mod:`.pcapng`: a pcapng file Wireshark opens, with the DTLS key log inside it;
* :mod:`.capture`: a call recorded from one person's sockets (the sans-I/O core: what to write
  when, with the key log before the records it decrypts).

The taps that feed a capture live where every aiortc and aioice internal lives
(:mod:`talklab._aiortc.taps`); a lab that captures nothing pays nothing.
"""

"""The answer key of notebook 04 · STUN, the mirror.

Exercise: ``xor_mapped_address`` (checked live by ``check.xor_mapped_address``).
The predictions and self-checks are answered in PREDICTIONS and SELF_CHECKS below.
"""

def xor_mapped_address(value: bytes, transaction_id: bytes) -> tuple[str, int]:
    """Decode XOR-MAPPED-ADDRESS (RFC 8489, 14.2): 1 reserved byte, the family (1: IPv4,
    2: IPv6), the port XORed with the cookie's top 16 bits, the address XORed with the
    cookie (IPv6: the cookie, then the transaction ID)."""
    import ipaddress  # (inside, so that the function alone can be pasted over the stub)

    MAGIC_COOKIE = 0x2112A442
    family = value[1]
    port = int.from_bytes(value[2:4], "big") ^ (MAGIC_COOKIE >> 16)
    mask = MAGIC_COOKIE.to_bytes(4, "big") + (transaction_id if family == 2 else b"")
    address = bytes(a ^ b for a, b in zip(value[4:], mask, strict=True))
    return str(ipaddress.ip_address(address)), port


PREDICTIONS = {
    # what the server sees from a host behind a NAT: the NAT's public address
    "behind_nat_seen": "public",
    # a symmetric NAT, the same host asking two servers: a new public port for each
    "symmetric_same_port": False,
}

SELF_CHECKS = {
    "check.xor_port(0xa147)": 0xA147 ^ 0x2112,  # 32853
    "check.which_nat(True, False, True)": "restricted",
}

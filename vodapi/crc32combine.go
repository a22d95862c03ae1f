package vodapi

// crc32Combine is the CRC-32 (IEEE) of a||b from crcA = CRC(a), crcB =
// CRC(b) and len(b), without b: a gzip body made of stored parts needs the
// CRC of the whole text, whose parts need not be in memory. It multiplies
// crcA by x^(8*lenB) modulo the polynomial (the method of zlib's
// crc32_combine), a few hundred operations however long b is.
func crc32Combine(crcA, crcB uint32, lenB int64) uint32 {
	if lenB <= 0 {
		return crcA ^ crcB // CRC of "" is 0
	}
	return multModP(x2nModP(lenB, 3), crcA) ^ crcB
}

// crcPoly is the IEEE polynomial, reflected (bit 31 is x^0).
const crcPoly = 0xedb88320

// multModP is a*b modulo the polynomial, in the reflected representation.
func multModP(a, b uint32) uint32 {
	var p uint32
	for m := uint32(1) << 31; m != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
		}
		if b&1 != 0 {
			b = b>>1 ^ crcPoly
		} else {
			b >>= 1
		}
	}
	return p
}

// x2nTable[k] is x^(2^k) modulo the polynomial.
var x2nTable = func() (t [32]uint32) {
	p := uint32(1) << 30 // x^1
	t[0] = p
	for k := 1; k < 32; k++ {
		p = multModP(p, p)
		t[k] = p
	}
	return t
}()

// x2nModP is x^(n*2^k) modulo the polynomial.
func x2nModP(n int64, k uint) uint32 {
	p := uint32(1) << 31 // x^0
	for ; n != 0; n >>= 1 {
		if n&1 != 0 {
			p = multModP(x2nTable[k&31], p)
		}
		k++
	}
	return p
}

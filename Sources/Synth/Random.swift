#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// xoshiro256** (Blackman & Vigna): fast, seedable, reproducible across platforms.
public struct Xoshiro: RandomNumberGenerator, Sendable {
    var s: (UInt64, UInt64, UInt64, UInt64)

    /// Seeds the four words from SplitMix64 of `seed`.
    public init(seed: UInt64) {
        var x = seed
        func split() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (split(), split(), split(), split())
    }

    /// A generator for a sub-stream (patient, month, ...), independent of call order.
    public init(seed: UInt64, stream: [UInt64]) {
        var h = seed
        for v in stream { h = (h ^ v) &* 0x100_0000_01B3 &+ 0x9E37_79B9_7F4A_7C15 }
        self.init(seed: h)
    }

    @inline(__always) static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    public mutating func next() -> UInt64 {
        let result = Self.rotl(s.1 &* 5, 7) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = Self.rotl(s.3, 45)
        return result
    }

    /// Uniform in [0, 1).
    @inline(__always) public mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    public mutating func uniform(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * uniform() }

    private var spare: Double? = nil

    /// Standard normal (Marsaglia polar method).
    public mutating func normal() -> Double {
        if let v = spare {
            spare = nil
            return v
        }
        while true {
            let u = 2 * uniform() - 1
            let v = 2 * uniform() - 1
            let s = u * u + v * v
            if s > 0 && s < 1 {
                let f = (-2 * log(s) / s).squareRoot()
                spare = v * f
                return u * f
            }
        }
    }

    public mutating func normal(_ mean: Double, _ sd: Double) -> Double { mean + sd * normal() }

    /// 10^(N(log10Mean, log10SD)).
    public mutating func logNormal10(_ log10Mean: Double, _ log10SD: Double) -> Double {
        exp(2.302585092994046 * (log10Mean + log10SD * normal()))
    }
}

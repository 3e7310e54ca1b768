//! 16-bit tensors hold two bytes per element. Alone in its test binary: the byte count is a
//! process-wide counter, which tests running beside it would move.

use retrograd::tensor::{live_storage_bytes, DType, Tensor};

#[test]
fn sixteen_bit_storage_holds_two_bytes_per_element() {
    for d in [DType::BF16, DType::F16] {
        assert_eq!(d.size_in_bytes(), 2);
        let before = live_storage_bytes();
        let t = Tensor::zeros([1 << 20], d);
        assert_eq!(live_storage_bytes() - before, 2 << 20, "{d:?}");
        drop(t);
        assert_eq!(live_storage_bytes(), before, "{d:?}");
    }
}

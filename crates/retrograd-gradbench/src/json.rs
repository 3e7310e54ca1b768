//! Writing outputs as JSON into a buffer.
//!
//! Outputs go into a byte buffer first and reach stdout only when complete, so an output
//! that turns out to hold a non-finite number (which JSON cannot represent) is answered
//! with an error instead of a half-written line. Numbers are written with serde_json's
//! float formatter (shortest round-trip representation).

use serde_json::ser::{CompactFormatter, Formatter};

/// A value that can be written as JSON; fails on a non-finite number, naming where it is.
pub trait ToJson {
    /// Appends the JSON text of `self` to `out`.
    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), String>;
}

/// Appends one finite number, or fails naming the non-finite value.
#[inline]
pub fn write_f64(out: &mut Vec<u8>, x: f64) -> Result<(), String> {
    if !x.is_finite() {
        return Err(format!("the output holds a non-finite number ({x})"));
    }
    // Writing into a Vec cannot fail.
    let _ = CompactFormatter.write_f64(out, x);
    Ok(())
}

impl ToJson for f64 {
    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), String> {
        write_f64(out, *self)
    }
}

impl ToJson for i64 {
    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), String> {
        let _ = CompactFormatter.write_i64(out, *self);
        Ok(())
    }
}

impl ToJson for usize {
    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), String> {
        let _ = CompactFormatter.write_u64(out, *self as u64);
        Ok(())
    }
}

impl<T: ToJson> ToJson for [T] {
    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), String> {
        out.push(b'[');
        for (i, x) in self.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            x.write_json(out)?;
        }
        out.push(b']');
        Ok(())
    }
}

impl<T: ToJson> ToJson for Vec<T> {
    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), String> {
        self.as_slice().write_json(out)
    }
}

/// A flat row-major matrix written as a list of rows.
pub struct Rows<'a> {
    /// The entries, row after row.
    pub data: &'a [f64],
    /// The length of a row.
    pub cols: usize,
}

impl ToJson for Rows<'_> {
    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), String> {
        out.push(b'[');
        for (i, row) in self.data.chunks(self.cols.max(1)).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            row.write_json(out)?;
        }
        out.push(b']');
        Ok(())
    }
}

/// A JSON object with the given fields, in order.
pub struct Object<'a>(pub &'a [(&'a str, &'a dyn ToJson)]);

impl ToJson for Object<'_> {
    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), String> {
        out.push(b'{');
        for (i, (key, value)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            // Keys are plain identifiers chosen by this crate: no escaping needed.
            out.push(b'"');
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"\":");
            value
                .write_json(out)
                .map_err(|e| format!("{e} in field `{key}`"))?;
        }
        out.push(b'}');
        Ok(())
    }
}

/// Serializes `value` into a fresh buffer.
pub fn to_vec(value: &dyn ToJson) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    value.write_json(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_nested_values() {
        let v = vec![1.5, -2.0];
        let m = Rows {
            data: &[1.0, 2.0, 3.0, 4.0],
            cols: 2,
        };
        let o = Object(&[("a", &v), ("m", &m), ("n", &3_usize)]);
        let s = String::from_utf8(to_vec(&o).unwrap()).unwrap();
        assert_eq!(s, r#"{"a":[1.5,-2.0],"m":[[1.0,2.0],[3.0,4.0]],"n":3}"#);
        let back: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back["m"][1][0], 3.0);
    }

    #[test]
    fn non_finite_is_an_error() {
        let v = vec![1.0, f64::NAN];
        let e = to_vec(&Object(&[("g", &v)])).unwrap_err();
        assert!(e.contains("non-finite") && e.contains("`g`"), "{e}");
        assert!(to_vec(&f64::INFINITY).is_err());
    }
}

//! QR-code rendering of a key URI (or any text) for enrolment: Unicode half-blocks for a terminal,
//! SVG, and PNG. Every rendering has a 4-module quiet zone; SVG and PNG use 8 px per module.

use qrcode::{Color, QrCode};

/// Light modules around the code, in modules, on every side.
pub const QUIET_ZONE: usize = 4;
/// Pixels per module in SVG and PNG output.
pub const MODULE_PX: usize = 8;

/// Why a QR code could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QrError {
    #[error("text cannot be encoded as a QR code: {0}")]
    Encode(String),
    #[error("PNG encoding failed: {0}")]
    Png(String),
}

/// The module matrix with the quiet zone added: `dark(x, y)` for `x, y` in `0..size`.
struct Matrix {
    size: usize,
    width: usize,
    modules: Vec<Color>,
}

impl Matrix {
    fn new(text: &str) -> Result<Matrix, QrError> {
        let code = QrCode::new(text.as_bytes()).map_err(|e| QrError::Encode(e.to_string()))?;
        let width = code.width();
        Ok(Matrix {
            size: width + 2 * QUIET_ZONE,
            width,
            modules: code.into_colors(),
        })
    }

    /// Whether the module at `(x, y)` (quiet-zone coordinates) is dark; outside is light.
    fn dark(&self, x: usize, y: usize) -> bool {
        let (Some(cx), Some(cy)) = (x.checked_sub(QUIET_ZONE), y.checked_sub(QUIET_ZONE)) else {
            return false;
        };
        if cx >= self.width || cy >= self.width {
            return false;
        }
        self.modules.get(cy * self.width + cx) == Some(&Color::Dark)
    }
}

/// Renders for a terminal with a dark background: light modules (and the quiet zone) are drawn
/// with block characters, dark modules are left blank, two module rows per text line.
pub fn terminal(text: &str) -> Result<String, QrError> {
    let m = Matrix::new(text)?;
    let mut out = String::with_capacity((m.size + 1) * m.size.div_ceil(2) * 3);
    for y in (0..m.size).step_by(2) {
        for x in 0..m.size {
            let top_light = !m.dark(x, y);
            let bottom_light = !m.dark(x, y + 1);
            out.push(match (top_light, bottom_light) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            });
        }
        out.push('\n');
    }
    Ok(out)
}

/// A standalone SVG document: white background, one black path of the dark modules.
pub fn svg(text: &str) -> Result<String, QrError> {
    let m = Matrix::new(text)?;
    let px = m.size * MODULE_PX;
    let mut path = String::new();
    for y in 0..m.size {
        for x in 0..m.size {
            if m.dark(x, y) {
                path.push_str(&format!("M{x} {y}h1v1h-1z"));
            }
        }
    }
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{px}\" height=\"{px}\" \
         viewBox=\"0 0 {n} {n}\" shape-rendering=\"crispEdges\">\
         <rect width=\"{n}\" height=\"{n}\" fill=\"#ffffff\"/>\
         <path fill=\"#000000\" d=\"{path}\"/></svg>\n",
        n = m.size
    ))
}

/// A PNG image (8-bit greyscale, black on white).
pub fn png(text: &str) -> Result<Vec<u8>, QrError> {
    let m = Matrix::new(text)?;
    let px = m.size * MODULE_PX;
    let side = u32::try_from(px).map_err(|e| QrError::Png(e.to_string()))?;
    let mut pixels = Vec::with_capacity(px * px);
    for y in 0..px {
        for x in 0..px {
            pixels.push(if m.dark(x / MODULE_PX, y / MODULE_PX) {
                0u8
            } else {
                255u8
            });
        }
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, side, side);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc
        .write_header()
        .map_err(|e| QrError::Png(e.to_string()))?;
    writer
        .write_image_data(&pixels)
        .map_err(|e| QrError::Png(e.to_string()))?;
    writer.finish().map_err(|e| QrError::Png(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const URI: &str = "otpauth://totp/keyward:jane?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
                       &issuer=keyward&algorithm=SHA1&digits=6&period=30";

    #[test]
    fn terminal_shape() -> Result<(), QrError> {
        let t = terminal(URI)?;
        let m = Matrix::new(URI)?;
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), m.size.div_ceil(2));
        assert!(lines.iter().all(|l| l.chars().count() == m.size));
        // The first two quiet-zone rows are fully light.
        assert!(lines.first().is_some_and(|l| l.chars().all(|c| c == '█')));
        // Line 2 holds module rows 4 and 5: quiet zone, then the finder pattern's dark left
        // column, then its top edge (dark) over the light inner ring.
        let line2: Vec<char> = lines
            .get(2)
            .map(|l| l.chars().take(6).collect())
            .unwrap_or_default();
        assert_eq!(line2, ['█', '█', '█', '█', ' ', '▄']);
        Ok(())
    }

    #[test]
    fn svg_document() -> Result<(), QrError> {
        let s = svg(URI)?;
        let m = Matrix::new(URI)?;
        assert!(s.starts_with("<?xml"));
        assert!(s.contains(&format!("width=\"{}\"", m.size * 8)));
        // Finder pattern's top-left module sits right after the quiet zone.
        assert!(s.contains("M4 4h1v1h-1z"));
        assert!(!s.contains("M0 0h1"));
        assert!(s.trim_end().ends_with("</svg>"));
        Ok(())
    }

    #[test]
    fn png_image() -> Result<(), Box<dyn std::error::Error>> {
        let bytes = png(URI)?;
        assert_eq!(
            bytes.get(..8),
            Some(&[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a][..])
        );
        let m = Matrix::new(URI)?;
        let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info()?;
        let mut buf = vec![0; reader.output_buffer_size().ok_or("size")?];
        let info = reader.next_frame(&mut buf)?;
        let side = m.size * MODULE_PX;
        assert_eq!((info.width as usize, info.height as usize), (side, side));
        // Every module's centre pixel matches the matrix.
        for y in 0..m.size {
            for x in 0..m.size {
                let p = buf.get((y * 8 + 4) * side + x * 8 + 4).copied();
                assert_eq!(p, Some(if m.dark(x, y) { 0 } else { 255 }), "({x},{y})");
            }
        }
        Ok(())
    }

    #[test]
    fn too_long() {
        let long = "x".repeat(5000);
        assert!(matches!(terminal(&long), Err(QrError::Encode(_))));
        assert!(matches!(png(&long), Err(QrError::Encode(_))));
    }
}

//! QR-code rendering of a key URI (or any text) for enrolment: Unicode half-blocks for a terminal,
//! SVG, and PNG. Every rendering has a 4-module quiet zone; SVG and PNG use 8 px per module.

use qrcode::QrCode;
use qrcode::render::{Canvas, Pixel, svg, unicode::Dense1x2};

/// Light modules around the code, in modules, on every side (the `qrcode` renderers' quiet zone
/// for a full-size QR code).
pub const QUIET_ZONE: usize = 4;
/// Pixels per module in SVG and PNG output.
pub const MODULE_PX: usize = 8;
const MODULE_PX_U32: u32 = 8;

/// Why a QR code could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QrError {
    #[error("text cannot be encoded as a QR code: {0}")]
    Encode(String),
    #[error("PNG encoding failed: {0}")]
    Png(String),
}

fn encode(text: &str) -> Result<QrCode, QrError> {
    QrCode::new(text.as_bytes()).map_err(|e| QrError::Encode(e.to_string()))
}

/// Renders for a terminal with a dark background: light modules (and the quiet zone) are drawn
/// with block characters, dark modules are left blank, two module rows per text line.
pub fn terminal(text: &str) -> Result<String, QrError> {
    let mut out = encode(text)?
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .build();
    out.push('\n');
    Ok(out)
}

/// A standalone SVG document: white background, one black path of the dark modules.
pub fn svg(text: &str) -> Result<String, QrError> {
    let mut out = encode(text)?
        .render::<svg::Color>()
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .module_dimensions(MODULE_PX_U32, MODULE_PX_U32)
        .build();
    out.push('\n');
    Ok(out)
}

/// One 8-bit grey pixel: what the `qrcode` renderer draws into for [`png`] (the crate's own
/// raster renderer needs the `image` crate).
#[derive(Clone, Copy)]
struct Grey(u8);

/// The rendered image: `side` × `side` pixels, row by row.
struct GreyImage {
    side: u32,
    pixels: Vec<u8>,
}

impl Pixel for Grey {
    type Image = GreyImage;
    type Canvas = GreyCanvas;

    fn default_color(color: qrcode::Color) -> Grey {
        Grey(color.select(0, 255))
    }
}

struct GreyCanvas {
    image: GreyImage,
    dark: u8,
}

impl Canvas for GreyCanvas {
    type Pixel = Grey;
    type Image = GreyImage;

    fn new(width: u32, height: u32, dark: Grey, light: Grey) -> GreyCanvas {
        let len = usize::try_from(u64::from(width) * u64::from(height)).unwrap_or(0);
        GreyCanvas {
            image: GreyImage {
                side: width,
                pixels: vec![light.0; len],
            },
            dark: dark.0,
        }
    }

    fn draw_dark_pixel(&mut self, x: u32, y: u32) {
        let at = u64::from(y) * u64::from(self.image.side) + u64::from(x);
        if let Some(p) = usize::try_from(at)
            .ok()
            .and_then(|i| self.image.pixels.get_mut(i))
        {
            *p = self.dark;
        }
    }

    fn into_image(self) -> GreyImage {
        self.image
    }
}

/// A PNG image (8-bit greyscale, black on white).
pub fn png(text: &str) -> Result<Vec<u8>, QrError> {
    let image = encode(text)?
        .render::<Grey>()
        .module_dimensions(MODULE_PX_U32, MODULE_PX_U32)
        .build();
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, image.side, image.side);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc
        .write_header()
        .map_err(|e| QrError::Png(e.to_string()))?;
    writer
        .write_image_data(&image.pixels)
        .map_err(|e| QrError::Png(e.to_string()))?;
    writer.finish().map_err(|e| QrError::Png(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use qrcode::Color;

    /// An independent reading of the code: the module matrix with the quiet zone added,
    /// `dark(x, y)` for `x, y` in `0..size`.
    struct Matrix {
        size: usize,
        width: usize,
        modules: Vec<Color>,
    }

    impl Matrix {
        fn new(text: &str) -> Result<Matrix, QrError> {
            let code = encode(text)?;
            let width = code.width();
            Ok(Matrix {
                size: width + 2 * QUIET_ZONE,
                width,
                modules: code.into_colors(),
            })
        }

        fn dark(&self, x: usize, y: usize) -> bool {
            let (Some(cx), Some(cy)) = (x.checked_sub(QUIET_ZONE), y.checked_sub(QUIET_ZONE))
            else {
                return false;
            };
            if cx >= self.width || cy >= self.width {
                return false;
            }
            self.modules.get(cy * self.width + cx) == Some(&Color::Dark)
        }
    }

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
        // The size is odd: the last line's lower half is the terminal's own background.
        assert!(lines.last().is_some_and(|l| l.chars().all(|c| c == '▀')));
        assert!(t.ends_with("▀\n"));
        Ok(())
    }

    #[test]
    fn svg_document() -> Result<(), QrError> {
        let s = svg(URI)?;
        let m = Matrix::new(URI)?;
        assert!(s.starts_with("<?xml"));
        assert!(s.contains(&format!("width=\"{}\"", m.size * 8)));
        // Finder pattern's top-left module sits right after the quiet zone.
        assert!(s.contains("M32 32h8v8H32V32"));
        assert!(!s.contains("M0 0h"));
        assert!(s.contains("fill=\"#ffffff\"") && s.contains("<path fill=\"#000000\""));
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

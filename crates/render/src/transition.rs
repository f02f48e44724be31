//! Choreography of each [`TransitionKind`]: for a time `t` in [0, 1], where
//! the camera is over the front and tail images, how they mix, and how much
//! blur, flash and fade the frame gets. Motion blur follows from the motion
//! itself: the compositor blurs by how far things move during a frame's
//! exposure.
//!
//! At `t = 0` every kind shows only the front image with the identity view,
//! and at `t = 1` only the tail image, so the clip starts and ends exactly on
//! the conformed photos.

use crate::settings::TransitionKind;
use crate::warp::View;

/// Conformed image shown by a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Front,
    Tail,
}

/// One image placed in the frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Layer {
    pub(crate) source: Source,
    pub(crate) view: View,
    /// Opacity over the layer below, in [0, 1].
    pub(crate) opacity: f32,
    /// Box blur radius per pass, as a fraction of the frame's short side.
    pub(crate) blur: f32,
    /// Spread of the zoom blur: the natural log of the ratio between the
    /// largest and smallest zoom sampled during the exposure.
    pub(crate) zoom_spread: f32,
}

impl Layer {
    fn new(source: Source, view: View) -> Layer {
        Layer { source, view, opacity: 1.0, blur: 0.0, zoom_spread: 0.0 }
    }

    fn blurred(self, blur: f32) -> Layer {
        Layer { blur, ..self }
    }
}

/// Everything needed to draw one frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Shot {
    pub(crate) bottom: Layer,
    pub(crate) top: Option<Layer>,
    /// Length of the horizontal motion blur, in frame widths.
    pub(crate) streak: f32,
    /// Mix toward white, in [0, 1].
    pub(crate) flash: f32,
    /// Mix toward black, in [0, 1].
    pub(crate) fade: f32,
}

impl Shot {
    fn single(layer: Layer) -> Shot {
        Shot { bottom: layer, top: None, streak: 0.0, flash: 0.0, fade: 0.0 }
    }

    /// `top` over `bottom` at `weight`, dropping whichever layer is invisible.
    fn crossfade(bottom: Layer, top: Layer, weight: f32) -> Shot {
        if weight <= 0.0 {
            Shot::single(bottom)
        } else if weight >= 1.0 {
            Shot::single(top)
        } else {
            Shot { top: Some(Layer { opacity: weight, ..top }), ..Shot::single(bottom) }
        }
    }

    /// Two opaque layers side by side, as in a push.
    fn side_by_side(left: Layer, right: Layer, progress: f32) -> Shot {
        if progress <= 0.0 {
            Shot::single(left)
        } else if progress >= 1.0 {
            Shot::single(right)
        } else {
            Shot { top: Some(right), ..Shot::single(left) }
        }
    }

    fn layers(&self) -> impl Iterator<Item = &Layer> {
        std::iter::once(&self.bottom).chain(self.top.as_ref())
    }

    fn layer_mut(&mut self, source: Source) -> Option<&mut Layer> {
        if self.bottom.source == source {
            return Some(&mut self.bottom);
        }
        self.top.as_mut().filter(|layer| layer.source == source)
    }
}

/// Maximum length of the horizontal motion blur, in frame widths.
const MAX_STREAK: f32 = 0.25;
/// Maximum blur of [`TransitionKind::BlurDissolve`], as a fraction of the short side.
const DISSOLVE_BLUR: f32 = 0.03;

/// Computes the shot at time `t` in [0, 1], where `step` is the time between
/// two frames. Motion blur covers the movement during `shutter(kind) * step`.
pub(crate) fn shot(kind: TransitionKind, t: f32, step: f32) -> Shot {
    let mut current = pose(kind, t);
    let shutter = shutter(kind);
    if shutter <= 0.0 {
        return current;
    }
    let before = pose(kind, (t - step / 2.0).max(0.0));
    let after = pose(kind, (t + step / 2.0).min(1.0));
    let mut streak = 0.0f32;
    for source in [Source::Front, Source::Tail] {
        let moved = before
            .layers()
            .find(|l| l.source == source)
            .zip(after.layers().find(|l| l.source == source));
        let (Some((start, end)), Some(layer)) = (moved, current.layer_mut(source)) else {
            continue;
        };
        layer.zoom_spread = shutter * (end.view.zoom / start.view.zoom).ln().abs();
        streak = streak.max(shutter * (end.view.offset_x - start.view.offset_x).abs());
    }
    current.streak = streak.min(MAX_STREAK);
    current
}

/// Fraction of the frame interval that the virtual shutter is open; 0 turns
/// motion blur off for kinds whose motion is too slow to smear.
fn shutter(kind: TransitionKind) -> f32 {
    match kind {
        TransitionKind::Calm | TransitionKind::FadeBlack | TransitionKind::BlurDissolve => 0.0,
        TransitionKind::Energetic => 0.9,
        TransitionKind::Slide => 0.35,
        TransitionKind::Whip => 1.0,
    }
}

fn pose(kind: TransitionKind, t: f32) -> Shot {
    match kind {
        TransitionKind::Calm => calm(t),
        TransitionKind::Energetic => energetic(t),
        TransitionKind::Slide => slide(t),
        TransitionKind::FadeBlack => fade_black(t),
        TransitionKind::Whip => whip(t),
        TransitionKind::BlurDissolve => blur_dissolve(t),
    }
}

/// Crossfade in the middle half while the front pushes in to 1.08 and the
/// tail eases back from 1.06 to 1.0.
fn calm(t: f32) -> Shot {
    let front = Layer::new(Source::Front, View::zoomed(1.0 + 0.08 * drift(t)));
    let tail = Layer::new(Source::Tail, View::zoomed(1.0 + 0.06 * (1.0 - drift(t))));
    Shot::crossfade(front, tail, ease(window(t, 0.25, 0.75)))
}

/// Zooms through: the front's push-in accelerates into a fast zoom (2.2x at
/// the cut), a white flash peaks at the cut, and the tail arrives at 2.2x and
/// settles to 1.0 with a decelerating zoom.
fn energetic(t: f32) -> Shot {
    let rush = t / 0.5;
    let front = Layer::new(Source::Front, View::zoomed(2.2f32.powf(rush * rush * rush)));
    let settle = 1.0 - window(t, 0.44, 1.0);
    let tail = Layer::new(Source::Tail, View::zoomed(1.0 + 1.2 * settle * settle * settle));
    let mut shot = Shot::crossfade(front, tail, ease(window(t, 0.44, 0.56)));
    shot.flash = 0.85 * (1.0 - ease((t - 0.5).abs() / 0.1));
    shot
}

/// Pushes the front out to the left with the tail in the middle 44 % of the
/// clip, while the camera drifts right with a slight zoom before and after.
fn slide(t: f32) -> Shot {
    let push = ease(window(t, 0.28, 0.72));
    let before = drift(window(t, 0.0, 0.72));
    let after = 1.0 - drift(window(t, 0.28, 1.0));
    let front = View { zoom: 1.0 + 0.05 * before, pan_x: before, pan_y: 0.0, offset_x: -push };
    let tail = View { zoom: 1.0 + 0.05 * after, pan_x: -after, pan_y: 0.0, offset_x: 1.0 - push };
    Shot::side_by_side(Layer::new(Source::Front, front), Layer::new(Source::Tail, tail), push)
}

/// Fade to black over the front's push-in, a short hold on black, then a
/// fade up over the tail's pull-out.
fn fade_black(t: f32) -> Shot {
    if t < 0.5 {
        let front = View::zoomed(1.0 + 0.07 * drift(window(t, 0.0, 0.5)));
        Shot { fade: ease(window(t, 0.12, 0.45)), ..Shot::single(Layer::new(Source::Front, front)) }
    } else {
        let tail = View::zoomed(1.0 + 0.07 * (1.0 - drift(window(t, 0.5, 1.0))));
        let fade = 1.0 - ease(window(t, 0.55, 0.88));
        Shot { fade, ..Shot::single(Layer::new(Source::Tail, tail)) }
    }
}

/// Whips the camera: an accelerating wind-up pan to the right, a whole frame
/// width of pan in the middle fifth of the clip, then a small overshoot over
/// the tail that settles back.
fn whip(t: f32) -> Shot {
    let whip = ease(window(t, 0.40, 0.60));
    let wind_up = window(t, 0.0, 0.45);
    let front = View {
        zoom: 1.0 + 0.06 * drift(wind_up),
        pan_x: wind_up * wind_up,
        pan_y: 0.0,
        offset_x: -whip,
    };
    let settle = window(t, 0.60, 1.0);
    let tail = View {
        zoom: 1.0 + 0.06 * (1.0 - ease(window(t, 0.5, 1.0))),
        pan_x: 0.9 * (std::f32::consts::PI * settle).sin() * (1.0 - settle),
        pan_y: 0.0,
        offset_x: 1.0 - whip,
    };
    Shot::side_by_side(Layer::new(Source::Front, front), Layer::new(Source::Tail, tail), whip)
}

/// Blurs the front out while the tail, starting blurred, sharpens. The two
/// crossfade in the middle while the camera pushes in slightly.
fn blur_dissolve(t: f32) -> Shot {
    let front = Layer::new(Source::Front, View::zoomed(1.0 + 0.05 * drift(t)))
        .blurred(DISSOLVE_BLUR * ease(window(t, 0.05, 0.6)));
    let tail = Layer::new(Source::Tail, View::zoomed(1.0 + 0.05 * (1.0 - drift(t))))
        .blurred(DISSOLVE_BLUR * (1.0 - ease(window(t, 0.4, 0.95))));
    Shot::crossfade(front, tail, ease(window(t, 0.3, 0.7)))
}

/// Position of `t` within `[start, end]`, clamped to [0, 1].
fn window(t: f32, start: f32, end: f32) -> f32 {
    ((t - start) / (end - start)).clamp(0.0, 1.0)
}

/// Cubic ease-in-out on [0, 1]: zero velocity at both ends.
fn ease(x: f32) -> f32 {
    let x = x.clamp(0.0, 1.0);
    if x < 0.5 {
        4.0 * x * x * x
    } else {
        let y = -2.0 * x + 2.0;
        1.0 - y * y * y / 2.0
    }
}

/// Camera drift on [0, 1]: 35 % linear and 65 % eased, so the camera is
/// already moving on the first frame but still settles at the end. Exactly 0
/// at 0 and 1 at 1.
fn drift(x: f32) -> f32 {
    let x = x.clamp(0.0, 1.0);
    x + 0.65 * (ease(x) - x)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEP: f32 = 1.0 / 149.0;

    #[test]
    fn kinds_start_front_end_tail() {
        for kind in TransitionKind::ALL {
            let first = shot(kind, 0.0, STEP);
            assert_eq!(first.bottom.source, Source::Front, "{kind}");
            assert_eq!(first.bottom.view, View::IDENTITY, "{kind}");
            assert_eq!(first.top, None, "{kind}");
            assert_eq!((first.flash, first.fade, first.bottom.blur), (0.0, 0.0, 0.0), "{kind}");
            assert!(first.streak * 1920.0 < 0.5, "{kind} streak {}", first.streak);

            let last = shot(kind, 1.0, STEP);
            assert_eq!(last.bottom.source, Source::Tail, "{kind}");
            assert_eq!(last.bottom.view.zoom, 1.0, "{kind}");
            assert_eq!(last.bottom.view.offset_x, 0.0, "{kind}");
            assert_eq!(last.top, None, "{kind}");
            assert_eq!((last.flash, last.fade, last.bottom.blur), (0.0, 0.0, 0.0), "{kind}");
        }
    }

    #[test]
    fn easing_curves_hit_their_ends() {
        assert_eq!(ease(0.0), 0.0);
        assert_eq!(ease(1.0), 1.0);
        assert_eq!(drift(0.0), 0.0);
        assert_eq!(drift(1.0), 1.0);
        assert!((ease(0.5) - 0.5).abs() < 1e-6);
        let mut previous = 0.0;
        for i in 1..=100 {
            let value = ease(i as f32 / 100.0);
            assert!(value >= previous, "ease must not go back");
            previous = value;
        }
    }

    #[test]
    fn energetic_flash_peaks_at_cut() {
        assert!((shot(TransitionKind::Energetic, 0.5, STEP).flash - 0.85).abs() < 1e-6);
        assert_eq!(shot(TransitionKind::Energetic, 0.3, STEP).flash, 0.0);
        let near_cut = shot(TransitionKind::Energetic, 0.47, STEP);
        assert!(near_cut.bottom.zoom_spread > 0.01, "the fast zoom must blur");
    }

    #[test]
    fn whip_streaks_more_than_slide() {
        let whip = shot(TransitionKind::Whip, 0.5, STEP).streak;
        let slide = shot(TransitionKind::Slide, 0.5, STEP).streak;
        assert!(slide > 0.005, "slide streak {slide}");
        assert!(whip > 2.0 * slide, "whip {whip} vs slide {slide}");
    }

    #[test]
    fn fade_black_is_black_mid_clip() {
        assert_eq!(shot(TransitionKind::FadeBlack, 0.5, STEP).fade, 1.0);
        assert_eq!(shot(TransitionKind::FadeBlack, 0.47, STEP).fade, 1.0);
        assert!(shot(TransitionKind::FadeBlack, 0.3, STEP).fade > 0.2);
    }

    #[test]
    fn slide_layers_tile_the_frame() {
        let mid = shot(TransitionKind::Slide, 0.5, STEP);
        let top = mid.top.expect("both images show mid-push");
        let left = mid.bottom.view.columns(1920);
        let right = top.view.columns(1920);
        assert_eq!(left.start, 0);
        assert_eq!(left.end, right.start);
        assert_eq!(right.end, 1920);
    }

    #[test]
    fn blur_dissolve_blurs_both_mid_clip() {
        let mid = shot(TransitionKind::BlurDissolve, 0.5, STEP);
        assert!(mid.bottom.blur > 0.01);
        assert!(mid.top.unwrap().blur > 0.01);
    }
}

//! Static type checks on literal arguments, as OPA's compiler makes them.
//!
//! OPA refuses a module whose builtin call or operator is given a value of
//! the wrong type (`upper(1)`, `count(5)`, `1 + "a"`) with
//! `rego_type_error: <fn>: invalid argument(s)`; the engine would load it
//! and make the expression undefined on every request. This check finds the
//! same mistakes at activation, but only where the answer is certain: an
//! argument counts only when it is a literal (a scalar, a collection or a
//! comprehension), and a builtin counts only when its signature is listed
//! below. Anything else (variables, references, calls, builtins not listed)
//! is left to evaluation, so no module that OPA accepts is refused.

use regorus::unstable::{ArithOp, BinOp, Expr, Ref};

/// A set of Rego types, as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Types(u8);

const NULL: Types = Types(1);
const BOOL: Types = Types(1 << 1);
const NUM: Types = Types(1 << 2);
const STR: Types = Types(1 << 3);
const ARR: Types = Types(1 << 4);
const SET: Types = Types(1 << 5);
const OBJ: Types = Types(1 << 6);

impl Types {
    const fn or(self, other: Types) -> Types {
        Types(self.0 | other.0)
    }

    fn allows(self, other: Types) -> bool {
        self.0 & other.0 != 0
    }
}

/// `array` or `set`, the collections most builtins iterate.
const COLL: Types = ARR.or(SET);
/// Anything `count` accepts.
const SIZED: Types = STR.or(ARR).or(SET).or(OBJ);

/// Argument types of the builtins checked, from OPA's builtin signatures.
/// An argument of type `any` is not listed: the table holds the leading
/// arguments up to the last one with a restricted type, and `None` for an
/// `any` in between.
const SIGNATURES: &[(&str, &[Option<Types>])] = &[
    ("abs", &[Some(NUM)]),
    ("array.concat", &[Some(ARR), Some(ARR)]),
    ("array.reverse", &[Some(ARR)]),
    ("array.slice", &[Some(ARR), Some(NUM), Some(NUM)]),
    ("base64.decode", &[Some(STR)]),
    ("base64.encode", &[Some(STR)]),
    ("base64url.decode", &[Some(STR)]),
    ("base64url.encode", &[Some(STR)]),
    ("base64url.encode_no_pad", &[Some(STR)]),
    ("ceil", &[Some(NUM)]),
    ("concat", &[Some(STR), Some(COLL)]),
    ("contains", &[Some(STR), Some(STR)]),
    ("count", &[Some(SIZED)]),
    ("crypto.hmac.equal", &[Some(STR), Some(STR)]),
    ("crypto.hmac.md5", &[Some(STR), Some(STR)]),
    ("crypto.hmac.sha1", &[Some(STR), Some(STR)]),
    ("crypto.hmac.sha256", &[Some(STR), Some(STR)]),
    ("crypto.hmac.sha512", &[Some(STR), Some(STR)]),
    ("crypto.md5", &[Some(STR)]),
    ("crypto.sha1", &[Some(STR)]),
    ("crypto.sha256", &[Some(STR)]),
    ("endswith", &[Some(STR), Some(STR)]),
    ("floor", &[Some(NUM)]),
    ("format_int", &[Some(NUM), Some(NUM)]),
    ("hex.decode", &[Some(STR)]),
    ("hex.encode", &[Some(STR)]),
    ("indexof", &[Some(STR), Some(STR)]),
    ("io.jwt.decode", &[Some(STR)]),
    ("io.jwt.decode_verify", &[Some(STR), Some(OBJ)]),
    ("json.unmarshal", &[Some(STR)]),
    ("lower", &[Some(STR)]),
    ("max", &[Some(COLL)]),
    ("min", &[Some(COLL)]),
    ("net.cidr_contains", &[Some(STR), Some(STR)]),
    ("net.cidr_intersects", &[Some(STR), Some(STR)]),
    ("net.cidr_merge", &[Some(COLL)]),
    ("numbers.range", &[Some(NUM), Some(NUM)]),
    ("object.keys", &[Some(OBJ)]),
    ("object.union", &[Some(OBJ), Some(OBJ)]),
    ("product", &[Some(COLL)]),
    ("regex.match", &[Some(STR), Some(STR)]),
    ("regex.split", &[Some(STR), Some(STR)]),
    ("replace", &[Some(STR), Some(STR), Some(STR)]),
    ("round", &[Some(NUM)]),
    ("semver.compare", &[Some(STR), Some(STR)]),
    ("sort", &[Some(COLL)]),
    ("split", &[Some(STR), Some(STR)]),
    ("sprintf", &[Some(STR), Some(ARR)]),
    ("startswith", &[Some(STR), Some(STR)]),
    ("strings.reverse", &[Some(STR)]),
    ("substring", &[Some(STR), Some(NUM), Some(NUM)]),
    ("sum", &[Some(COLL)]),
    ("time.parse_ns", &[Some(STR), Some(STR)]),
    ("time.parse_rfc3339_ns", &[Some(STR)]),
    ("trim", &[Some(STR), Some(STR)]),
    ("trim_left", &[Some(STR), Some(STR)]),
    ("trim_prefix", &[Some(STR), Some(STR)]),
    ("trim_right", &[Some(STR), Some(STR)]),
    ("trim_space", &[Some(STR)]),
    ("trim_suffix", &[Some(STR), Some(STR)]),
    ("units.parse", &[Some(STR)]),
    ("units.parse_bytes", &[Some(STR)]),
    ("upper", &[Some(STR)]),
    ("urlquery.decode", &[Some(STR)]),
    ("urlquery.encode", &[Some(STR)]),
    ("yaml.unmarshal", &[Some(STR)]),
];

/// The type of a literal expression, when it is certain.
fn literal_type(expr: &Expr) -> Option<Types> {
    match expr {
        Expr::String { .. } | Expr::RawString { .. } => Some(STR),
        Expr::Number { .. } => Some(NUM),
        Expr::Bool { .. } => Some(BOOL),
        Expr::Null { .. } => Some(NULL),
        Expr::Array { .. } | Expr::ArrayCompr { .. } => Some(ARR),
        Expr::Set { .. } | Expr::SetCompr { .. } => Some(SET),
        Expr::Object { .. } | Expr::ObjectCompr { .. } => Some(OBJ),
        _ => None,
    }
}

fn type_name(types: Types) -> &'static str {
    match types {
        NULL => "null",
        BOOL => "boolean",
        NUM => "number",
        STR => "string",
        ARR => "array",
        SET => "set",
        _ => "object",
    }
}

fn wanted(types: Types) -> String {
    let names: Vec<&str> = [NULL, BOOL, NUM, STR, ARR, SET, OBJ]
        .into_iter()
        .filter(|t| types.allows(*t))
        .map(type_name)
        .collect();
    names.join(" or ")
}

/// A literal operand of the wrong type, and why it is refused.
pub(super) struct Refused<'a> {
    /// The operand, where the error points.
    pub(super) operand: &'a Expr,
    /// The reason, OPA's `invalid argument(s)` with what was expected.
    pub(super) reason: String,
}

/// Why a call of builtin `name` with `params` cannot succeed, when a
/// literal argument has a type its signature refuses.
pub(super) fn check_call<'a>(name: &str, params: &'a [Ref<Expr>]) -> Option<Refused<'a>> {
    let (_, signature) = SIGNATURES.iter().find(|(n, _)| *n == name)?;
    // Extra arguments are outputs (`count(xs, n)`), not checked here.
    for (index, (param, want)) in params.iter().zip(signature.iter()).enumerate() {
        let (Some(want), Some(have)) = (want, literal_type(param)) else {
            continue;
        };
        if !want.allows(have) {
            return Some(refusal(param, name, index, *want, have));
        }
    }
    None
}

/// Why an operator expression (`+`, `-`, `*`, `/`, `%`, `|`, `&`) cannot
/// succeed, when a literal operand has a type the operator refuses. `-`
/// also takes sets (difference), and OPA's signature lets each operand be
/// either, so a number minus a set is left to evaluation as OPA leaves it.
pub(super) fn check_operator(expr: &Expr) -> Option<Refused<'_>> {
    let (name, want, lhs, rhs) = match expr {
        Expr::ArithExpr { op, lhs, rhs, .. } => match op {
            ArithOp::Add => ("plus", NUM, lhs, rhs),
            ArithOp::Sub => ("minus", NUM.or(SET), lhs, rhs),
            ArithOp::Mul => ("mul", NUM, lhs, rhs),
            ArithOp::Div => ("div", NUM, lhs, rhs),
            ArithOp::Mod => ("rem", NUM, lhs, rhs),
        },
        Expr::BinExpr { op, lhs, rhs, .. } => match op {
            BinOp::Union => ("or", SET, lhs, rhs),
            BinOp::Intersection => ("and", SET, lhs, rhs),
        },
        _ => return None,
    };
    [lhs, rhs].into_iter().enumerate().find_map(|(i, operand)| {
        let have = literal_type(operand)?;
        (!want.allows(have)).then(|| refusal(operand, name, i, want, have))
    })
}

fn refusal<'a>(
    operand: &'a Expr,
    name: &str,
    index: usize,
    want: Types,
    have: Types,
) -> Refused<'a> {
    let reason = format!(
        "invalid argument(s) for `{name}`: operand {} must be {}, not {}",
        index + 1,
        wanted(want),
        type_name(have)
    );
    Refused { operand, reason }
}

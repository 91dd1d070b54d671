//! Collection builtins OPA has and the engine lacks: `array.flatten`, and
//! the deprecated `any` and `all`, which OPA still offers to Rego v0
//! modules (the static checks refuse them in v1 modules, as OPA does).

use regorus::Value;

use super::{BuiltinError, Outcome};

/// `array.flatten(arr)`: the elements of `arr`, with each element that is
/// itself an array replaced by its elements, one level deep.
pub(super) fn flatten(args: &[Value]) -> Outcome {
    let Some(Value::Array(items)) = args.first() else {
        return Err(operand_error("array", args.first()));
    };
    let mut flat = Vec::with_capacity(items.len());
    for item in items.iter() {
        match item {
            Value::Array(inner) => flat.extend(inner.iter().cloned()),
            other => flat.push(other.clone()),
        }
    }
    Ok(Value::from(flat))
}

/// `any(collection)`: whether some element is `true`.
pub(super) fn any(args: &[Value]) -> Outcome {
    let found = elements(args)?.any(|v| *v == Value::Bool(true));
    Ok(Value::from(found))
}

/// `all(collection)`: whether every element is `true` (so `true` when
/// empty).
pub(super) fn all(args: &[Value]) -> Outcome {
    let every = elements(args)?.all(|v| *v == Value::Bool(true));
    Ok(Value::from(every))
}

fn elements(args: &[Value]) -> Result<Box<dyn Iterator<Item = &Value> + '_>, BuiltinError> {
    match args.first() {
        Some(Value::Array(items)) => Ok(Box::new(items.iter())),
        Some(Value::Set(items)) => Ok(Box::new(items.iter())),
        other => Err(operand_error("array or set", other)),
    }
}

fn operand_error(want: &str, have: Option<&Value>) -> BuiltinError {
    let have = have.map_or("nothing", crate::decision::type_name);
    BuiltinError::new(format!("operand 1 must be {want} but got {have}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Value {
        Value::from_json_str(text).unwrap()
    }

    #[test]
    fn flatten_lifts_nested_arrays_one_level() {
        assert_eq!(
            flatten(&[json("[1, [2, [3]], []]")]).unwrap(),
            json("[1, 2, [3]]")
        );
        assert!(flatten(&[json("{}")]).is_err());
    }

    #[test]
    fn any_and_all_look_for_true_elements() {
        assert_eq!(any(&[json("[false, true]")]).unwrap(), Value::from(true));
        assert_eq!(any(&[json("[1, \"true\"]")]).unwrap(), Value::from(false));
        assert_eq!(all(&[json("[]")]).unwrap(), Value::from(true));
        assert_eq!(all(&[json("[true, 1]")]).unwrap(), Value::from(false));
        assert!(all(&[json("5")]).is_err());
    }
}

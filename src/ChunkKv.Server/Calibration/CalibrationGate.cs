using ChunkKv.Collections;
using ChunkKv.Pipeline;

namespace ChunkKv.Server.Calibration;

/// <summary>Where a query meets its collection's calibration: the method it runs, and a warning or a refusal when that method failed.</summary>
public static class CalibrationGate
{
    /// <summary>The response header that carries the calibration's figures when the method failed it.</summary>
    public const string WarningHeader = "ChunkKv-Calibration-Warning";

    /// <returns>The request with its method settled; the warning (also set as the header) when the method failed; a 422 problem when the server refuses such methods.</returns>
    public static (QueryRequest Request, string? Warning, IResult? Refusal) Gate(this CollectionCalibrations calibrations, CollectionContext collection,
        QueryRequest request, HttpContext http)
    {
        var (method, verdict) = calibrations.Choose(collection, request.Method);
        if (verdict.Passed)
        {
            return (request with { Method = method }, null, null);
        }
        if (calibrations.RefusesFailed)
        {
            return (request, null, Results.Problem(statusCode: StatusCodes.Status422UnprocessableEntity, title: "Method failed calibration",
                detail: verdict.Problem + " (the server refuses such methods: FailedCalibration=refuse)"));
        }
        http.Response.Headers[WarningHeader] = verdict.Problem;
        return (request with { Method = method }, verdict.Problem, null);
    }
}
